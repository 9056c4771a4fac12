package io.github.leaderelection.demo;

import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.harness.WorkLog;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Non-interactive output (CI, pipes, {@code --no-tty}): one timestamped line per event, no ANSI.
 * The replicas' log lines appear like {@code kubectl logs --prefix}, without the repetitive
 * {@code doing stuff...} (only the first one of each term); Lease changes get a line of their own.
 */
final class PlainScreen extends Screen {

  private static final String SELF = "demo";
  private static final int PREFIX = 8;
  private static final Duration PROGRESS_EVERY = Duration.ofSeconds(10);

  private final Map<Replica, Integer> printed = new HashMap<>();
  private final Map<Replica, Boolean> workedThisTerm = new HashMap<>();
  private String lastLease = "";
  private long lastProgress;

  private record Entry(Instant at, String who, String text) {
  }

  PlainScreen(PrintStream out) {
    super(out);
  }

  private synchronized void line(Instant at, String who, String text) {
    StringBuilder b = new StringBuilder(clock(at)).append(' ').append(who);
    b.append(" ".repeat(Math.max(1, PREFIX - who.length()))).append("| ").append(text);
    out.println(b);
    out.flush();
  }

  @Override
  void say(String text) {
    catchUp();
    line(Instant.now(), SELF, text);
  }

  @Override
  void step(String title) {
    catchUp();
    line(Instant.now(), SELF, "");
    line(Instant.now(), SELF, "== " + title + " ==");
  }

  @Override
  void hint(String comment, String... commands) {
    catchUp();
    line(Instant.now(), SELF, "real cluster: " + comment);
    for (String c : commands) {
      line(Instant.now(), SELF, "  $ " + c);
    }
  }

  /** Prints the replicas' lines so far first, so that the story comes after what caused it. */
  private void catchUp() {
    try {
      tick();
    } catch (RuntimeException e) {
      // the API server is gone: nothing more to show about the Lease
    }
  }

  @Override
  synchronized void block(List<String> lines) {
    lines.forEach(out::println);
    out.flush();
  }

  @Override
  protected synchronized void tick() {
    String waiting = status;
    long now = System.nanoTime();
    if (waiting == null) {
      lastProgress = 0;
    } else if (lastProgress == 0) {
      lastProgress = now;
    } else if (now - lastProgress >= PROGRESS_EVERY.toNanos()) {
      lastProgress = now;
      line(Instant.now(), SELF, "... " + waiting + " (" + seconds((now - statusSince) / 1e9)
          + ")");
    }
    ReplicaSet set = replicas;
    if (set == null) {
      return;
    }
    // new lines of all replicas, in the order they were logged
    List<Entry> fresh = new ArrayList<>();
    for (Replica r : set.replicas()) {
      List<String> texts = r.texts();
      int from = printed.getOrDefault(r, 0);
      for (int i = from; i < texts.size(); i++) {
        String text = texts.get(i);
        String msg = WorkLog.message(text);
        if (msg.startsWith("successfully acquired lease")) {
          workedThisTerm.put(r, false);
        }
        if (msg.equals("doing stuff...")) {
          if (Boolean.TRUE.equals(workedThisTerm.get(r))) {
            continue;
          }
          workedThisTerm.put(r, true);
          msg = "doing stuff...   (and every work interval from now on while it leads)";
        }
        Instant at = WorkLog.timestamp(text);
        fresh.add(new Entry(at == null ? Instant.now() : at, r.identity(), msg));
      }
      printed.put(r, texts.size());
    }
    fresh.sort(Comparator.comparing(Entry::at));
    fresh.forEach(e -> line(e.at(), e.who(), e.text()));
    LeaseView lease = LeaseView.of(set.lease());
    if (lease != null) {
      String current = "lease " + set.namespace() + "/" + set.leaseName() + ": holderIdentity="
          + lease.holderText() + " leaseTransitions=" + lease.transitions();
      if (!current.equals(lastLease)) {
        lastLease = current;
        line(Instant.now(), SELF, current + " acquireTime=" + clock(lease.acquired()));
      }
    }
  }
}
