package io.github.leaderelection.election;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The threads every election in the process shares, created on first use, all daemons (an
 * election never keeps the JVM alive; closing it is the application's decision).
 *
 * <ul>
 *   <li>One <b>elector</b> thread runs every election's state machine, one event at a time. A
 *       turn never blocks (no I/O, no user code), so one thread serves hundreds of elections.</li>
 *   <li>Up to {@value #MAX_API_THREADS} <b>API</b> threads run the Lease requests (blocking calls
 *       of the fabric8 client), each bounded by its deadline and interrupted when abandoned; idle
 *       ones end after a minute.</li>
 *   <li>Up to {@value #MAX_LISTENER_THREADS} <b>listener</b> threads run listener calls (unless
 *       the application gives its own executor), so a slow listener never holds an API or elector
 *       thread.</li>
 * </ul>
 */
final class SharedThreads {

  static final int MAX_API_THREADS = 16;
  static final int MAX_LISTENER_THREADS = 4;
  private static final long IDLE_SECONDS = 60;

  private static final class Holder {
    static final ExecutorService API = bounded("leaderelection-api-", MAX_API_THREADS);
    static final ExecutorService LISTENERS =
        bounded("leaderelection-listener-", MAX_LISTENER_THREADS);
  }

  private SharedThreads() {
  }

  /** The thread that runs the state machines, and their timers. */
  static ScheduledThreadPoolExecutor elector() {
    return ElectorHolder.INSTANCE;
  }

  private static final class ElectorHolder {
    static final ScheduledThreadPoolExecutor INSTANCE = newElector();
  }

  private static ScheduledThreadPoolExecutor newElector() {
    ScheduledThreadPoolExecutor e = new ScheduledThreadPoolExecutor(1,
        daemons("leaderelection-elector", false));
    e.setRemoveOnCancelPolicy(true); // timers are cancelled all the time: do not keep them queued
    return e;
  }

  static ExecutorService api() {
    return Holder.API;
  }

  static ExecutorService listeners() {
    return Holder.LISTENERS;
  }

  private static ExecutorService bounded(String prefix, int max) {
    ThreadPoolExecutor pool = new ThreadPoolExecutor(max, max, IDLE_SECONDS, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(), daemons(prefix, true));
    pool.allowCoreThreadTimeOut(true);
    return pool;
  }

  /** Daemon threads named {@code prefix} (plus a number when {@code numbered}). */
  static ThreadFactory daemons(String prefix, boolean numbered) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, numbered ? prefix + n.incrementAndGet() : prefix);
      t.setDaemon(true);
      return t;
    };
  }
}
