package io.github.leaderelection.election;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/** Remembers what the elector told it, and when (System.nanoTime). */
public class RecordingListener implements LeadershipListener {

  public final AtomicInteger started = new AtomicInteger();
  public final AtomicInteger stopped = new AtomicInteger();
  public final List<String> leaders = new CopyOnWriteArrayList<>();
  public volatile Term term;
  public volatile long stoppedAtNanos;
  /** Revoked already when stoppedLeading was called? (It must be.) */
  public volatile boolean revokedBeforeStopped;

  @Override
  public void startedLeading(Term l) {
    term = l;
    started.incrementAndGet();
  }

  @Override
  public void stoppedLeading(Term endedTerm, TermEnd endReason) {
    Term l = term;
    revokedBeforeStopped = l != null && l.hasEnded() && !l.isValid();
    stoppedAtNanos = System.nanoTime();
    stopped.incrementAndGet();
  }

  @Override
  public void newLeader(String identity) {
    leaders.add(identity);
  }
}
