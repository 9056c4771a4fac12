package io.github.leaderelection.election;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedTransferQueue;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.SynchronousQueue;
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
 *       of the fabric8 client), each bounded by its deadline and interrupted when abandoned.</li>
 *   <li>Up to {@value #MAX_LISTENER_THREADS} <b>listener</b> threads run listener calls (unless
 *       the application gives its own executor), so a slow listener never holds an API or elector
 *       thread.</li>
 *   <li><b>Work</b> threads run the periodic units of every election's terms (unless the
 *       application gives a work thread factory): a thread only while a unit runs, so their number
 *       is the number of units running at the same moment, not the number of elections.</li>
 * </ul>
 *
 * <p>Every pool starts a thread only when no thread of it is idle (so one election uses one or two
 * API threads, not the maximum), and idle threads end after a minute.
 */
final class SharedThreads {

  static final int MAX_API_THREADS = 16;
  static final int MAX_LISTENER_THREADS = 4;
  private static final long IDLE_SECONDS = 60;

  private static final class Holder {
    static final ExecutorService API = bounded("leaderelection-api-", MAX_API_THREADS);
    static final ExecutorService LISTENERS =
        bounded("leaderelection-listener-", MAX_LISTENER_THREADS);
    // Unbounded on purpose: a unit that blocks must not hold up other elections' units; threads
    // exist only while units run (a SynchronousQueue hands each unit to an idle thread or a new one).
    static final ExecutorService WORK = new ThreadPoolExecutor(0, Integer.MAX_VALUE, IDLE_SECONDS,
        TimeUnit.SECONDS, new SynchronousQueue<>(), daemons("leaderelection-work-", true));
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

  /** The threads of periodic units (see {@link WorkRunner}). */
  static ExecutorService work() {
    return Holder.WORK;
  }

  static ExecutorService bounded(String prefix, int max) {
    return new OnDemandPool(max, daemons(prefix, true));
  }

  /**
   * A pool of at most {@code max} threads that starts one only when none of its threads is idle,
   * and queues tasks once it has {@code max}. (A {@code ThreadPoolExecutor} on its own does one or
   * the other: with {@code core = max} it starts a thread per task until {@code max} even when
   * threads are idle; with {@code core < max} and an unbounded queue it never grows past
   * {@code core}.) The queue hands a task straight to a thread waiting for one; with none waiting
   * it refuses the task while the pool may still grow, which makes the executor start a thread;
   * a task the full pool rejects is queued.
   */
  static final class OnDemandPool extends ThreadPoolExecutor {

    OnDemandPool(int max, ThreadFactory threads) {
      super(0, max, IDLE_SECONDS, TimeUnit.SECONDS, new GrowFirstQueue(), threads,
          (task, pool) -> ((GrowFirstQueue) pool.getQueue()).force(task));
      ((GrowFirstQueue) getQueue()).pool = this;
    }
  }

  /** The queue of an {@link OnDemandPool}. */
  private static final class GrowFirstQueue extends LinkedTransferQueue<Runnable> {

    private static final long serialVersionUID = 1L;
    private transient OnDemandPool pool;

    @Override
    public boolean offer(Runnable task) {
      if (tryTransfer(task)) {
        return true; // an idle thread took it
      }
      if (pool != null && pool.getPoolSize() < pool.getMaximumPoolSize()) {
        return false; // none idle: the executor starts a thread for it instead
      }
      return super.offer(task);
    }

    void force(Runnable task) {
      super.offer(task); // unbounded: always accepted
    }
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
