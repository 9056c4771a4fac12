package io.github.leaderelection.election;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * What happened, on real time: each replica's term validity intervals and units of work. The
 * safety invariant is checked here: no two intervals of different replica processes overlap.
 */
final class SimLedger {

  static final long OPEN = Long.MAX_VALUE;

  /** [start, end) on simulated real time, of one replica process. */
  static final class Interval {
    final String process;
    final String identity;
    final long start;
    long end;
    /** A term's fencing token (-1 for a unit). */
    long token = -1;
    /** While still open: where its fence stands now, on real time. */
    java.util.function.LongSupplier fence = () -> OPEN;

    Interval(String process, String identity, long start, long end) {
      this.process = process;
      this.identity = identity;
      this.start = start;
      this.end = end;
    }

    /** The end, or for an open interval the fence it would end at if never renewed again. */
    long effectiveEnd() {
      return end != OPEN ? end : fence.getAsLong();
    }

    @Override
    public String toString() {
      long e = effectiveEnd();
      return process + " [" + SimWorld.seconds(start) + ", "
          + (e == OPEN ? "open" : SimWorld.seconds(e)) + ")";
    }
  }

  private final List<Interval> terms = new ArrayList<>();
  private final List<Interval> units = new ArrayList<>();
  private final List<String> tokenViolations = new ArrayList<>();
  private long lastToken = Long.MIN_VALUE;
  private String lastTokenTerm = "";

  /**
   * A term started now, with the fencing token its work received. Terms never overlap (checked
   * by {@link #overlaps()}), so the order they start in is the order of the terms, and each must
   * carry a greater token than all before it (else a newer term's fenced writes would be refused,
   * or an older one's accepted after them).
   */
  Interval term(String process, String identity, long start, long token) {
    Interval i = new Interval(process, identity, start, OPEN);
    String name = process + " at " + SimWorld.seconds(start);
    if (token < 0) {
      tokenViolations.add("term of " + name + " has no fencing token (" + token + ")");
    } else if (token <= lastToken) {
      tokenViolations.add("term of " + name + " has fencing token " + token
          + ", not above the " + lastToken + " of the term before, " + lastTokenTerm);
    }
    i.token = token;
    lastToken = Math.max(lastToken, token);
    lastTokenTerm = name;
    terms.add(i);
    return i;
  }

  /** Terms whose fencing token was missing or not above every earlier term's, one line each. */
  List<String> tokenViolations() {
    return tokenViolations;
  }

  Interval unit(String process, String identity, long start, long end) {
    Interval i = new Interval(process, identity, start, end);
    units.add(i);
    return i;
  }

  List<Interval> terms() {
    return terms;
  }

  /** Overlapping terms and units of different processes, one line each. */
  List<String> overlaps() {
    List<String> found = new ArrayList<>();
    overlaps("terms", terms, found);
    overlaps("work units", units, found);
    return found;
  }

  private static void overlaps(String what, List<Interval> all, List<String> found) {
    List<Interval> sorted = new ArrayList<>(all);
    sorted.sort(Comparator.comparingLong((Interval i) -> i.start).thenComparing(i -> i.process));
    List<Interval> active = new ArrayList<>();
    for (Interval next : sorted) {
      active.removeIf(a -> a.effectiveEnd() <= next.start);
      for (Interval a : active) {
        if (!a.process.equals(next.process) && next.start < next.effectiveEnd()) {
          found.add("overlapping " + what + ": " + a + " and " + next);
        }
      }
      active.add(next);
    }
  }

  /**
   * The latest instant in [from, to) at which no term was valid, or -1 if a term was valid
   * throughout.
   */
  long lastLeaderless(long from, long to) {
    List<Interval> sorted = new ArrayList<>(terms);
    sorted.sort(Comparator.comparingLong((Interval i) -> i.start).thenComparing(i -> i.process));
    long covered = from;
    long last = -1;
    for (Interval i : sorted) {
      if (i.start > covered && covered < to) {
        last = Math.min(i.start, to) - 1;
      }
      covered = Math.max(covered, i.effectiveEnd());
    }
    return covered < to ? to - 1 : last;
  }

  /** The first term started at or after {@code t}, or null. */
  Interval firstTermFrom(long t) {
    Interval first = null;
    for (Interval i : terms) {
      if (i.start >= t && (first == null || i.start < first.start)) {
        first = i;
      }
    }
    return first;
  }
}
