package io.github.leaderelection.spring;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Runs the annotated bean method (or every public method of the annotated class) only while this
 * instance leads the election, inside the current term:
 *
 * <ul>
 *   <li>a call is let through only while the term is valid; on a follower (or while the context
 *       shuts down) it is skipped at once and silently (a debug log line), returning
 *       {@code null}, {@code false}, zero or {@code Optional.empty()};</li>
 *   <li>the running call belongs to the term: when the term ends (lost, expired, closed) its
 *       thread is interrupted, and the release of the Lease waits for it (up to
 *       {@code LeaderElection.WORK_STOP_WAIT}, 5 s; a call still running then keeps the Lease
 *       unreleased until it expires, so no other instance's run can overlap it);</li>
 *   <li>the term, with its fencing token, is available to the call through
 *       {@link LeaderContext#currentTerm()}, or as a {@code Term} parameter passed as
 *       {@code null}.</li>
 * </ul>
 *
 * <p>Typical use: {@code @Scheduled(fixedRate = 5000) @LeaderOnly public void reconcile()}. The
 * method must be called through the Spring proxy (not from inside the same bean).
 */
@Target({ElementType.METHOD, ElementType.TYPE})
@Retention(RetentionPolicy.RUNTIME)
@Documented
public @interface LeaderOnly {
}
