package io.github.leaderelection.election;

import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/** A wait that something else can cut short: the elector sleeps until its next attempt or until poked. */
final class Signal {

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private boolean pending;

  /** Wakes the waiter now, or makes its next wait return at once. */
  void raise() {
    lock.lock();
    try {
      pending = true;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Waits up to {@code nanos} for {@link #raise()}; consumes the signal. */
  void await(long nanos) throws InterruptedException {
    lock.lock();
    try {
      long left = nanos;
      while (!pending && left > 0) {
        left = changed.awaitNanos(left);
      }
      pending = false;
    } finally {
      lock.unlock();
    }
  }

}
