package io.github.leaderelection.springdemo;

import io.github.leaderelection.election.Term;
import io.github.leaderelection.spring.LeaderContext;
import io.github.leaderelection.spring.LeaderOnly;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.scheduling.annotation.EnableScheduling;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/**
 * A small Spring Boot service as a team would write it: one {@code @Scheduled} job that must run on
 * one instance only ({@link LeaderOnly}), plus the actuator. SpringBootIT starts it as several
 * processes against a real kube-apiserver. Each run prints one line when it starts and one when it
 * ends, with this instance's identity, the term's fencing token and wall-clock instants (all
 * processes run on one machine, one clock), from which the test checks that no two runs of
 * different instances overlap.
 *
 * <p>Arguments of the test kit's {@code ReplicaSet} are mapped to Boot properties:
 * {@code --lease-name}, {@code --lease-namespace}, {@code --kubeconfig}, {@code --health-port}.
 */
@SpringBootApplication(proxyBeanMethods = false)
@EnableScheduling
public class SpringDemoApp {

  /** The line a run prints when it starts. */
  public static final String RUN_START = "LEADER-RUN-START";
  /** The line a run prints when it ends. */
  public static final String RUN_END = "LEADER-RUN-END";
  /** How long one run works. */
  public static final long RUN_MILLIS = 150;

  public static void main(String[] args) {
    List<String> boot = new ArrayList<>();
    for (String arg : args) {
      if (arg.startsWith("--lease-name=")) {
        boot.add("--leaderelection.lease-name=" + value(arg));
      } else if (arg.startsWith("--lease-namespace=")) {
        boot.add("--leaderelection.namespace=" + value(arg));
      } else if (arg.startsWith("--kubeconfig=")) {
        System.setProperty("kubeconfig", value(arg)); // read by fabric8's client builder
      } else if (arg.startsWith("--health-port=")) {
        boot.add("--server.port=" + value(arg));
      } else {
        boot.add(arg);
      }
    }
    SpringApplication.run(SpringDemoApp.class, boot.toArray(String[]::new));
  }

  private static String value(String arg) {
    return arg.substring(arg.indexOf('=') + 1);
  }

  /** The job. */
  @Component
  public static class Job {

    /**
     * Records one run; runs only on the leader.
     *
     * @throws InterruptedException when the term ends during the run
     */
    @Scheduled(fixedRate = 300)
    @LeaderOnly
    public void run() throws InterruptedException {
      Term term = LeaderContext.requireTerm();
      String id = term.identity() + " token=" + term.fencingToken();
      System.out.println(RUN_START + " " + id + " at=" + Instant.now());
      String how = "";
      try {
        Thread.sleep(RUN_MILLIS);
      } catch (InterruptedException e) {
        how = " interrupted";
        throw e;
      } finally {
        System.out.println(RUN_END + " " + id + " at=" + Instant.now() + how);
      }
    }
  }
}
