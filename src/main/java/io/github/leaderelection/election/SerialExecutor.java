package io.github.leaderelection.election;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs tasks one at a time, in order, on a shared executor: one election's listener calls never
 * overlap or reorder, while many elections share a few threads.
 */
final class SerialExecutor implements Executor {

  private static final Logger log = LoggerFactory.getLogger(SerialExecutor.class);

  private final Executor threads;
  private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean draining = new AtomicBoolean();

  SerialExecutor(Executor threads) {
    this.threads = threads;
  }

  @Override
  public void execute(Runnable task) {
    tasks.add(task);
    if (draining.compareAndSet(false, true)) {
      threads.execute(this::drain);
    }
  }

  private void drain() {
    try {
      for (Runnable task; (task = tasks.poll()) != null; ) {
        try {
          task.run();
        } catch (RuntimeException e) {
          log.warn("task failed: {}", e.toString());
        }
      }
    } finally {
      draining.set(false);
      // A task added after the last poll and before the flag was cleared must not be stranded.
      if (!tasks.isEmpty() && draining.compareAndSet(false, true)) {
        threads.execute(this::drain);
      }
    }
  }
}
