package io.github.leaderelection.demo;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One change of leader the demo caused and measured.
 *
 * @param leaseSeconds from the signal until the Lease named the new holder (polled every 50 ms)
 * @param loggedSeconds from the signal until the new leader logged {@code successfully acquired
 *     lease} (its log timestamp)
 */
record Handover(int round, Kind kind, String oldLeader, String newLeader, double leaseSeconds,
    double loggedSeconds) {

  enum Kind {
    CRASH("crash (SIGKILL)"),
    GRACEFUL("graceful (SIGTERM)");

    final String label;

    Kind(String label) {
      this.label = label;
    }
  }

  private static final String ROW = "  %-6s %-19s %-11s %-11s %-9s %s";

  /** The summary table: one row per handover. */
  static List<String> table(List<Handover> handovers) {
    List<String> lines = new ArrayList<>();
    lines.add(String.format(Locale.ROOT, ROW, "ROUND", "EVENT", "OLD LEADER", "NEW LEADER",
        "SECONDS", "(LOGGED 'successfully acquired lease' AFTER)"));
    for (Handover h : handovers) {
      lines.add(String.format(Locale.ROOT, ROW, h.round, h.kind.label, h.oldLeader, h.newLeader,
          String.format(Locale.ROOT, "%.2f", h.leaseSeconds),
          String.format(Locale.ROOT, "%.2f", h.loggedSeconds)));
    }
    return lines;
  }
}
