package io.github.leaderelection.app;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Background threads that never keep the JVM alive: shutdown is decided by the elector alone. */
public final class DaemonExecutors {

  private DaemonExecutors() {
  }

  /** One named daemon thread, tasks run in order. */
  public static ExecutorService single(String name) {
    return Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    });
  }
}
