package io.github.leaderelection.harness;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.Year;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the replicas' klog lines back into leadership terms and checks the one invariant that
 * matters: no two identities ever worked at overlapping times.
 *
 * <p>A term of identity X spans from its {@code successfully acquired lease} line to its last
 * {@code doing stuff...} before it stepped down (or exited). Terms of different identities must not
 * overlap. This catches the article's split brain (an old leader still working after another took
 * over) and the paused leader that wakes up and works once more.
 */
public final class WorkLog {

  private static final Pattern KLOG = Pattern.compile(
      "^[IWE](\\d{4} \\d{2}:\\d{2}:\\d{2}\\.\\d{6})\\s+\\d+ [^]]*] (.*)$");
  private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyyMMdd HH:mm:ss.SSSSSS");

  /** One unit of leader work. */
  public record Unit(String identity, Instant at) {
  }

  /** One leadership term and its span of work. */
  public record Term(String identity, Instant acquired, Instant lastWork, int units) {
    Instant end() {
      return lastWork == null ? acquired : lastWork;
    }

    boolean overlaps(Term other) {
      return !acquired.isAfter(other.end()) && !other.acquired.isAfter(end());
    }
  }

  private WorkLog() {
  }

  /** The klog timestamp of a line, or null if it is not a klog line. */
  public static Instant timestamp(String line) {
    Matcher m = KLOG.matcher(line);
    if (!m.matches()) {
      return null;
    }
    LocalDateTime local = LocalDateTime.parse(Year.now().getValue() + m.group(1), TIME);
    return local.atZone(ZoneId.systemDefault()).toInstant();
  }

  /** The message part of a klog line (after "] "), or the whole line. */
  public static String message(String line) {
    Matcher m = KLOG.matcher(line);
    return m.matches() ? m.group(2) : line;
  }

  public static List<Unit> units(Replica replica) {
    List<Unit> units = new ArrayList<>();
    for (String line : replica.texts()) {
      if (message(line).equals("doing stuff...")) {
        units.add(new Unit(replica.identity(), timestamp(line)));
      }
    }
    return units;
  }

  /** The leadership terms found in one replica's log. */
  public static List<Term> terms(Replica replica) {
    List<Term> terms = new ArrayList<>();
    Instant acquired = null;
    Instant lastWork = null;
    int units = 0;
    for (String line : replica.texts()) {
      String msg = message(line);
      Instant at = timestamp(line);
      if (at == null) {
        continue;
      }
      if (msg.startsWith("successfully acquired lease")) {
        if (acquired != null) {
          terms.add(new Term(replica.identity(), acquired, lastWork, units));
        }
        acquired = at;
        lastWork = null;
        units = 0;
      } else if (msg.equals("doing stuff...")) {
        if (acquired == null) {
          // work without a term is itself a violation: make it a term so it gets compared
          acquired = at;
        }
        lastWork = at;
        units++;
      } else if (msg.startsWith("no longer the leader") && acquired != null) {
        terms.add(new Term(replica.identity(), acquired, lastWork, units));
        acquired = null;
        lastWork = null;
        units = 0;
      }
    }
    if (acquired != null) {
      terms.add(new Term(replica.identity(), acquired, lastWork, units));
    }
    return terms;
  }

  /** Every pair of overlapping terms of different identities, described; empty when all is well. */
  public static List<String> overlaps(Collection<Replica> replicas) {
    List<Term> all = new ArrayList<>();
    replicas.forEach(r -> all.addAll(terms(r)));
    List<String> problems = new ArrayList<>();
    for (int i = 0; i < all.size(); i++) {
      for (int j = i + 1; j < all.size(); j++) {
        Term a = all.get(i);
        Term b = all.get(j);
        if (!a.identity().equals(b.identity()) && a.overlaps(b)) {
          problems.add(a + " overlaps " + b);
        }
      }
    }
    return problems;
  }
}
