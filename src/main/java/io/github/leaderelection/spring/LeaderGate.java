package io.github.leaderelection.spring;

import io.github.leaderelection.election.LeaderWork;
import io.github.leaderelection.election.Term;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes {@link LeaderOnly} calls part of the election's term, through the library's public API only.
 *
 * <p>It is the election's whole-term {@link LeaderWork}: for each term the election calls
 * {@link #lead} on a work thread of the term, and that thread <em>holds</em> the term: it opens a
 * slot for the term, waits for the term to end, then closes the slot, interrupts the calls still
 * running in it and waits for them to return before {@link #lead} returns. Since the election
 * releases the Lease only once the term's work has returned (bounded by
 * {@code LeaderElection.WORK_STOP_WAIT}; after that the Lease is left to expire), the release
 * waits for the running {@link LeaderOnly} calls, wherever they run (Spring's scheduler threads,
 * web threads, ...).
 *
 * <p>A call {@linkplain #enter enters} the slot only while the term is valid and the slot is open
 * (checked and registered under one lock, so a call either is registered before the slot closes,
 * and then is interrupted and waited for, or does not start). An interrupt it received from here is
 * cleared when it {@linkplain #exit exits}, so a pooled thread does not carry it into its next
 * task.
 */
final class LeaderGate implements LeaderWork {

  private static final Logger log = LoggerFactory.getLogger(LeaderGate.class);

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  // Guarded by lock.
  private Slot slot;
  private boolean shuttingDown;

  /** One term's running calls. */
  private static final class Slot {
    final Term term;
    final List<Run> runs = new ArrayList<>();
    boolean closed;

    Slot(Term term) {
      this.term = term;
    }
  }

  /** One running {@link LeaderOnly} call. */
  static final class Run {
    private final Slot slot;
    private final Thread thread;
    private boolean interrupted; // guarded by the gate's lock

    private Run(Slot slot, Thread thread) {
      this.slot = slot;
      this.thread = thread;
    }

    Term term() {
      return slot.term;
    }
  }

  @Override
  public void lead(Term term) {
    Slot mine = new Slot(term);
    lock.lock();
    try {
      slot = mine;
    } finally {
      lock.unlock();
    }
    try {
      awaitEnd(term);
    } finally {
      List<Run> running;
      lock.lock();
      try {
        mine.closed = true;
        running = List.copyOf(mine.runs);
        // Interrupted under the lock: a call that has exited is no longer in the list, so a
        // pooled thread never gets an interrupt meant for a call it has finished.
        for (Run run : running) {
          run.interrupted = true;
          run.thread.interrupt();
        }
      } finally {
        lock.unlock();
      }
      if (!running.isEmpty()) {
        log.info("term {} of lease {} ended ({}): interrupted {} running @LeaderOnly call(s),"
            + " waiting for them before the release", term.number(), term.leaseKey(),
            term.endReason().map(Enum::name).orElse("?"), running.size());
      }
      lock.lock();
      try {
        // Unbounded here: the election bounds the release's wait for this thread
        // (LeaderElection.WORK_STOP_WAIT) and leaves the Lease to expire after it, so no other
        // instance starts while a call of this term may still run.
        while (!mine.runs.isEmpty()) {
          changed.awaitUninterruptibly();
        }
        if (slot == mine) {
          slot = null;
        }
        changed.signalAll();
      } finally {
        lock.unlock();
      }
    }
  }

  private static void awaitEnd(Term term) {
    while (!term.hasEnded()) {
      try {
        term.awaitEnd(Duration.ofSeconds(60));
      } catch (InterruptedException e) {
        // The election interrupts this thread when the term ends; anything else: keep holding.
      }
    }
  }

  /**
   * Registers a call on the current thread if this instance leads now.
   *
   * @return the run, to {@link #exit} after the call; null if the call must be skipped
   */
  Run enter() {
    lock.lock();
    try {
      Slot s = slot;
      if (shuttingDown || s == null || s.closed || !s.term.isValid()) {
        return null;
      }
      Run run = new Run(s, Thread.currentThread());
      s.runs.add(run);
      return run;
    } finally {
      lock.unlock();
    }
  }

  /** The end of a call registered by {@link #enter}. */
  void exit(Run run) {
    boolean interrupted;
    lock.lock();
    try {
      run.slot.runs.remove(run);
      interrupted = run.interrupted;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    if (interrupted) {
      Thread.interrupted(); // ours, not the pool's: clear it before the thread's next task
    }
  }

  /** No call starts from now on (the context is closing). */
  void shutDown() {
    lock.lock();
    try {
      shuttingDown = true;
    } finally {
      lock.unlock();
    }
  }

  /** Whether {@link #shutDown} was called. */
  boolean isShutDown() {
    lock.lock();
    try {
      return shuttingDown;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Waits until no call runs, without interrupting any.
   *
   * @return true if none runs, false if some still ran after {@code timeout}
   */
  boolean awaitIdle(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    lock.lock();
    try {
      while (slot != null && !slot.runs.isEmpty()) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        changed.await(left, TimeUnit.NANOSECONDS);
      }
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } finally {
      lock.unlock();
    }
  }

  /** The number of calls running now. */
  int running() {
    lock.lock();
    try {
      return slot == null ? 0 : slot.runs.size();
    } finally {
      lock.unlock();
    }
  }
}
