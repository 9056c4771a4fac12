package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.Resource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One term of leadership: what the leader's work receives. It says whether the work may still act
 * ({@link #isValid()}), for how long at most ({@link #remaining()}), carries the
 * {@linkplain #fencingToken() fencing token} of the term, and cancels the work when the term ends.
 *
 * <h2>Validity</h2>
 * A term is valid while it has not ended and less than {@code renewDeadline} has passed, on this
 * process's monotonic clock, since the last successful write of the Lease was <em>sent</em>. The
 * API server cannot have stored that write earlier, so no other replica can have seen it earlier,
 * so none may take over before {@code sent + leaseDuration}: a term that stops at
 * {@code sent + renewDeadline} leaves a margin of {@code leaseDuration - renewDeadline} even for a
 * process that was frozen (when it wakes, the check fails before it does anything). No other
 * node's clock is trusted.
 *
 * <h2>Ending and cancellation</h2>
 * A term ends exactly once, for good, for one {@link TermEnd} reason: ended by the election
 * (lost, stepped down, closed) or lapsed at its deadline. At that moment every work thread the
 * election started for the term is <em>interrupted</em>, {@link #awaitEnd} returns, and
 * {@link #isValid()} is false. A renewal answered late never revives a term; the election starts a
 * new term, with a new token and new work, instead. Work that blocks should do so interruptibly,
 * and check {@link #isValid()} (or call {@link #checkValid()}) before each action with effects
 * outside the process; a write that must never land after a newer term's writes goes through
 * {@link #fencedUpdate}.
 *
 * <p>Thread-safe: every method may be called from any thread. Nothing here holds a monitor
 * ({@code synchronized}), so virtual threads are never pinned.
 */
public final class Term {

  private static final Logger log = LoggerFactory.getLogger(Term.class);

  private final Ticker ticker;
  private final long renewDeadlineNanos;
  private final long number;
  private final long fencingToken;
  private final String identity;
  private final String leaseKey;
  private final KubernetesClient client;
  private final CountDownLatch ended = new CountDownLatch(1);
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition workDone = lock.newCondition();
  // Guarded by lock.
  private final List<Thread> interruptible = new ArrayList<>();
  private int running;
  private Runnable onWorkStopped = () -> { };
  private long lastRenewSentNanos;
  private TermEnd endReason;
  private Throwable workFailure;

  Term(Ticker ticker, Duration renewDeadline, long number, long acquiredSentNanos,
      long fencingToken, String identity, String leaseKey, KubernetesClient client) {
    this.ticker = ticker;
    this.renewDeadlineNanos = renewDeadline.toNanos();
    this.number = number;
    this.lastRenewSentNanos = acquiredSentNanos;
    this.fencingToken = fencingToken;
    this.identity = identity;
    this.leaseKey = leaseKey;
    this.client = client;
  }

  /** For tests of the fence alone: no token, no identity. */
  Term(Ticker ticker, Duration renewDeadline, long number, long acquiredSentNanos) {
    this(ticker, renewDeadline, number, acquiredSentNanos, number, "", "", null);
  }

  /**
   * True while this replica may act as leader; false for good once the term has ended or its
   * deadline has passed (the first call that sees the deadline passed ends the term as
   * {@link TermEnd#EXPIRED} and interrupts its work). Cheap: call it before every action.
   *
   * @return true while the term has not ended and its deadline has not passed
   */
  public boolean isValid() {
    lock.lock();
    try {
      if (endReason != null) {
        return false;
      }
      if (ticker.nanoTime() - lastRenewSentNanos < renewDeadlineNanos) {
        return true;
      }
      endNow(TermEnd.EXPIRED);
    } finally {
      lock.unlock();
    }
    return false;
  }

  /**
   * Throws unless the term is {@linkplain #isValid() valid}.
   *
   * @throws LeadershipLostException once the term has ended or lapsed, naming why
   */
  public void checkValid() {
    if (!isValid()) {
      throw new LeadershipLostException("term " + number + " of lease " + leaseKey
          + " has ended (" + endReason().map(Enum::name).orElse("EXPIRED") + ")");
    }
  }

  /**
   * The longest the term can still be valid unless renewed: zero once it has ended. Work that
   * needs a bound on its actions (a lock timeout, a request deadline) can use it.
   *
   * @return the time to the term's deadline on the local monotonic clock, or zero once it has
   *     ended; at most the renew deadline
   */
  public Duration remaining() {
    lock.lock();
    try {
      return endReason != null ? Duration.ZERO
          : Duration.ofNanos(Math.max(0, lastRenewSentNanos + renewDeadlineNanos
              - ticker.nanoTime()));
    } finally {
      lock.unlock();
    }
  }

  /**
   * The term's fencing token: a number that is greater for every later term of this Lease, across
   * all replicas and restarts of them. It is the {@code resourceVersion} of the write that started
   * the term (the create or takeover of the Lease), which an etcd-backed API server takes from its
   * store's revision counter: a 64-bit number that grows with every write to the cluster and never
   * goes back, even when the Lease is deleted and created again, and that no edit of the Lease (its
   * {@code leaseTransitions}, its holder) can lower. Renewals keep the token; a term taken back
   * after a restart gets a new one.
   *
   * <p>Give it to whatever the leader writes, so that the target can refuse a write from an older
   * term that arrives late: {@link #fencedUpdate} does that for Kubernetes objects. The one case
   * that breaks the guarantee is an etcd restored from a backup without bumping its revision
   * ({@code etcdutl snapshot restore --bump-revision}, as the Kubernetes documentation asks). An
   * API server whose resourceVersions are not numbers gives -1: no fencing.
   *
   * @return the token, the same for the whole term
   */
  public long fencingToken() {
    return fencingToken;
  }

  /**
   * The identity this replica leads as.
   *
   * @return the Lease's {@code holderIdentity} during this term
   */
  public String identity() {
    return identity;
  }

  /**
   * The Lease this term holds.
   *
   * @return {@code namespace/name} of the Lease
   */
  public String leaseKey() {
    return leaseKey;
  }

  /**
   * The term's number in this election, for logs; unlike the {@linkplain #fencingToken() token}
   * it starts again at 1 in every process, so it fences nothing.
   *
   * @return 1 for the first term this election led, 2 for the next, and so on
   */
  public long number() {
    return number;
  }

  /**
   * Waits until the term ends (ended by the election, or lapsed and detected by the election or
   * by {@link #isValid()}) or the timeout passes. A term that lapses unnoticed (nobody calls
   * {@link #isValid()}) is ended by the election, which wakes at the deadline for it.
   *
   * @param timeout the longest to wait; zero or negative only checks
   * @return true if the term has ended (the caller must stop), false on timeout
   * @throws InterruptedException if the waiting thread is interrupted, as a work thread is the
   *     moment its term ends
   */
  public boolean awaitEnd(Duration timeout) throws InterruptedException {
    return ended.await(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS);
  }

  /**
   * Whether the term has ended. Unlike {@link #isValid()} it does not check the deadline: a lapse
   * counts once {@link #isValid()} or the election has seen it.
   *
   * @return true once the term has ended, for good
   */
  public boolean hasEnded() {
    lock.lock();
    try {
      return endReason != null;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Why the term ended.
   *
   * @return the first reason that ended it, or empty while it runs
   */
  public Optional<TermEnd> endReason() {
    lock.lock();
    try {
      return Optional.ofNullable(endReason);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Writes a Kubernetes object only if no newer term has written it: a conditional update that
   * carries this term's {@linkplain #fencingToken() token} in the object's annotation
   * {@value FencedWriter#TOKEN_ANNOTATION} (and the writer's identity in
   * {@value FencedWriter#HOLDER_ANNOTATION}). It reads the object, refuses if the stored token is
   * greater than this term's, applies {@code edit} to a copy, and updates it conditional on the
   * resourceVersion it read; on a conflict (somebody wrote in between) it reads and checks again.
   * An absent object is created ({@code edit} receives null and returns the object to create).
   *
   * <p>So once a write under token {@code n} has been stored, every later write under a token
   * below {@code n} is refused, whatever the delays between the check and the write: the API
   * server, not this process's clock, decides. The guarantee holds among the writers that go
   * through this method (a plain write that drops the annotation resets the object's token).
   * Runs on the caller's thread (a work thread) with the election's client, blocking for a read
   * and a write, repeated after a conflict (at most 5 attempts).
   * A call cut short (its thread interrupted when the term ends, or a timeout) may still have
   * been stored: the request may have reached the API server. It was then decided by the fence
   * like any other write: stored only if no newer token had written first.
   *
   * @param <T> the object's type, e.g. {@code ConfigMap}
   * @param target the object, e.g. {@code client.configMaps().inNamespace(ns).withName(n)}
   * @param edit given a copy of the current object (null if absent), returns the object to write;
   *     called again after a conflict, so it must not have side effects
   * @return the object as stored
   * @throws StaleTokenException if a newer term has written the object: the write is refused
   * @throws LeadershipLostException if this term is no longer valid (nothing was written)
   * @throws io.fabric8.kubernetes.client.KubernetesClientException for API failures, and the
   *     last 409 Conflict if every attempt conflicted
   */
  public <T extends HasMetadata> T fencedUpdate(Resource<T> target, UnaryOperator<T> edit) {
    return FencedWriter.update(this, target, edit);
  }

  /**
   * Waits for the threads that the election started for this term's work to finish (a listener's
   * {@code stoppedLeading} may use it to log after the work's last action).
   *
   * @param timeout the longest to wait
   * @return true if none is running any more, false on timeout
   * @throws InterruptedException if the waiting thread is interrupted
   */
  public boolean awaitWorkStopped(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    lock.lock();
    try {
      while (running > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        workDone.awaitNanos(left);
      }
      return true;
    } finally {
      lock.unlock();
    }
  }

  @Override
  public String toString() {
    return "Term{" + leaseKey + " #" + number + ", token " + fencingToken + ", "
        + endReason().map(Enum::name).orElse(isValid() ? "valid" : "ended") + "}";
  }

  // ---------------------------------------------------------------------------------------------
  // The election's side

  /** The election's API client, for fenced writes; null in tests of the fence alone. */
  KubernetesClient client() {
    return client;
  }

  /** When validity ends unless renewed, on the ticker's clock. */
  long deadlineNanos() {
    lock.lock();
    try {
      return lastRenewSentNanos + renewDeadlineNanos;
    } finally {
      lock.unlock();
    }
  }

  /** When the last successful write of this term was sent, on the ticker's monotonic clock. */
  long lastRenewSentNanos() {
    lock.lock();
    try {
      return lastRenewSentNanos;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Starts work for this term on a thread from {@code threads} (which names it). Does nothing once
   * the term has ended. An interruptible thread is interrupted when the term ends.
   *
   * @return false if the term had ended already
   */
  boolean startWork(ThreadFactory threads, Runnable work, boolean interruptOnEnd) {
    Thread[] self = new Thread[1];
    Thread t = threads.newThread(() -> {
      try {
        work.run();
      } finally {
        exitWork(self[0]);
      }
    });
    if (t == null) {
      throw new IllegalStateException("the work thread factory returned no thread");
    }
    self[0] = t;
    lock.lock();
    try {
      if (endReason != null) {
        return false;
      }
      running++;
      if (interruptOnEnd) {
        interruptible.add(t);
      }
    } finally {
      lock.unlock();
    }
    t.start();
    return true;
  }

  /**
   * Runs one unit of the term's work on the calling thread, a pooled thread the term does not
   * own: counted as running work (the release waits for it) and interrupted if the term ends
   * meanwhile, like a thread of {@link #startWork}. Once it returns, no interrupt of this term
   * reaches the thread, and one that arrived during the unit is cleared, so the thread goes back
   * to its pool clean.
   *
   * @return false, without running it, if the term had ended already
   */
  boolean runUnit(Runnable unit) {
    Thread me = Thread.currentThread();
    lock.lock();
    try {
      if (endReason != null) {
        return false;
      }
      running++;
      interruptible.add(me);
    } finally {
      lock.unlock();
    }
    try {
      unit.run();
    } finally {
      exitWork(me);
      Thread.interrupted();
    }
    return true;
  }

  /** Starts interruptible work on a new daemon platform thread (tests and the simple cases). */
  boolean startWork(String name, Runnable work) {
    return startWork(r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    }, work, true);
  }

  /** True while a thread started by {@link #startWork} (or counted by {@link #enterWork}) runs. */
  boolean workRunning() {
    lock.lock();
    try {
      return running > 0;
    } finally {
      lock.unlock();
    }
  }

  /**
   * The work hit a failure it cannot go on from (an {@link Error}): the term ends, and the
   * election closes itself (releasing the Lease) rather than hold the Lease with no work.
   */
  void workFailed(Throwable failure) {
    lock.lock();
    try {
      if (workFailure == null) {
        workFailure = failure;
      }
    } finally {
      lock.unlock();
    }
    end(TermEnd.WORK_FAILED);
  }

  /** The failure reported by {@link #workFailed}, or null. */
  Throwable workFailure() {
    lock.lock();
    try {
      return workFailure;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Renews the fence from a write sent at {@code sentNanos}. Refused once the term is over: a late
   * answer never revives it.
   *
   * @return false if the term had already ended or lapsed
   */
  boolean extend(long sentNanos) {
    if (!isValid()) {
      return false;
    }
    lock.lock();
    try {
      if (sentNanos > lastRenewSentNanos) {
        lastRenewSentNanos = sentNanos;
      }
      return true;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Ends the term now and interrupts its work; idempotent, safe from any thread (a close from
   * another thread calls it directly, so the work stops at once even while the election waits for
   * a request).
   *
   * @return true if this call ended it
   */
  boolean end(TermEnd reason) {
    lock.lock();
    try {
      if (endReason != null) {
        return false;
      }
      endNow(reason);
    } finally {
      lock.unlock();
    }
    return true;
  }

  void onWorkStopped(Runnable hook) {
    lock.lock();
    try {
      onWorkStopped = hook;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Ends the term and interrupts its work, holding the lock: a pooled thread leaves the term (see
   * {@link #runUnit}) under the same lock, so an interrupt meant for this term can never reach
   * the thread once it runs another election's unit. ({@code Thread.interrupt} only sets a flag
   * and unparks: it never waits for the interrupted thread.)
   */
  private void endNow(TermEnd reason) {
    endReason = reason;
    ended.countDown();
    Thread me = Thread.currentThread();
    for (Thread t : interruptible) {
      if (t != me) {
        t.interrupt();
      }
    }
    interruptible.clear();
  }

  /** Counts a unit of work run by a driver of its own (the simulation); see {@link #exitWork}. */
  void enterWork() {
    lock.lock();
    try {
      running++;
    } finally {
      lock.unlock();
    }
  }

  /** The end of a unit counted by {@link #enterWork}. */
  void exitWork() {
    exitWork(null);
  }

  /** The end of a unit or work thread counted as running: wakes the election once none runs. */
  private void exitWork(Thread thread) {
    Runnable hook;
    lock.lock();
    try {
      if (thread != null) {
        interruptible.remove(thread);
      }
      running--;
      if (running > 0) {
        return;
      }
      workDone.signalAll();
      hook = onWorkStopped;
    } finally {
      lock.unlock();
    }
    try {
      hook.run();
    } catch (RuntimeException e) {
      log.warn("work-stopped hook failed: {}", e.toString());
    }
  }
}
