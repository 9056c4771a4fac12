package io.github.leaderelection.election;

import java.time.Duration;

/** The periodic work of {@link WorkRunner} on a term of a test's own, as the tests drive it. */
final class FencedLoop {

  private final WorkRunner runner;
  private volatile Term current;

  FencedLoop(Duration interval, Runnable unit) {
    this(interval, (UnitOfWork) term -> unit.run());
  }

  FencedLoop(Duration interval, UnitOfWork unit) {
    this.runner = new WorkRunner(ElectorHarness.config("me", true, false), null, interval,
        unit, r -> {
          Thread t = new Thread(r, "leader-work");
          t.setDaemon(true);
          return t;
        }, null, Duration.ZERO);
  }

  void start(Term term) {
    current = term;
    runner.startedLeading(term);
  }

  boolean awaitStopped(Duration timeout) throws InterruptedException {
    Term t = current;
    return t == null || t.awaitWorkStopped(timeout);
  }
}
