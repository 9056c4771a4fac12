package io.github.leaderelection.election;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Go-style durations ({@code 15s}, {@code 500ms}, {@code 1m30s}), the notation operators know from
 * client-go's flags; the election's own messages print durations this way. Stateless: every
 * method may be called from any thread.
 */
public final class Durations {

  private static final Pattern PART = Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|h|m|s)");

  private Durations() {
  }

  /**
   * Parses {@code 15s}, {@code 500ms}, {@code 1m}, {@code 1m30s}, {@code 1.5s}, {@code 2h}: one
   * or more parts, each a non-negative decimal number and a unit ({@code h}, {@code m}, {@code s},
   * {@code ms}), case-insensitive, surrounding blanks ignored.
   *
   * @param text the duration, e.g. {@code 15s}
   * @return the duration, rounded to the nanosecond
   * @throws IllegalArgumentException if {@code text} is null, empty or not of that form, with a
   *     message that shows the accepted forms
   */
  public static Duration parse(String text) {
    String s = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
    if (s.isEmpty()) {
      throw new IllegalArgumentException("'' is not a duration (use e.g. 15s, 500ms, 1m)");
    }
    Matcher m = PART.matcher(s);
    int pos = 0;
    double nanos = 0;
    while (m.find() && m.start() == pos) {
      double value = Double.parseDouble(m.group(1));
      nanos += value * switch (m.group(2)) {
        case "ms" -> 1e6;
        case "s" -> 1e9;
        case "m" -> 60e9;
        default -> 3600e9;
      };
      pos = m.end();
    }
    if (pos != s.length() || pos == 0) {
      throw new IllegalArgumentException("'" + text + "' is not a duration (use e.g. 15s, 500ms, 1m)");
    }
    return Duration.ofNanos(Math.round(nanos));
  }

  /**
   * The inverse of {@link #parse} for messages, to the millisecond: {@code 2m}, {@code 15s},
   * {@code 500ms}, {@code 2.4s}.
   *
   * @param d the duration (not null)
   * @return its shortest form in whole minutes, whole seconds, milliseconds below a second, or
   *     seconds with up to three decimals
   */
  public static String format(Duration d) {
    long millis = d.toMillis();
    if (millis % 60_000 == 0 && millis != 0) {
      return (millis / 60_000) + "m";
    }
    if (millis % 1000 == 0) {
      return (millis / 1000) + "s";
    }
    if (millis < 1000 && millis > -1000) {
      return millis + "ms";
    }
    return String.format(Locale.ROOT, "%.3fs", millis / 1000.0).replaceAll("0+s$", "s");
  }
}
