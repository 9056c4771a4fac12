package io.github.leaderelection.election;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
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
  private static final BigInteger NANOS_PER_SECOND = BigInteger.valueOf(1_000_000_000L);
  private static final BigInteger MAX_NANOS = BigInteger.valueOf(Long.MAX_VALUE)
      .multiply(NANOS_PER_SECOND);

  /**
   * The longest timing the election accepts: 2147483647s, about 68 years. The Lease stores its
   * duration as a 32-bit number of seconds ({@code leaseDurationSeconds}), and every other timing
   * is held to the same bound, so that any sum of two of them still counts in nanoseconds.
   */
  public static final Duration MAX = Duration.ofSeconds(Integer.MAX_VALUE);

  /** What {@link #MAX} is, in words, for messages: {@code 2147483647s (about 68 years)}. */
  public static final String MAX_IN_WORDS = "2147483647s (about 68 years)";

  private Durations() {
  }

  /**
   * Parses {@code 15s}, {@code 500ms}, {@code 1m}, {@code 1m30s}, {@code 1.5s}, {@code 2h}: one
   * or more parts, each a non-negative decimal number and a unit ({@code h}, {@code m}, {@code s},
   * {@code ms}), case-insensitive, surrounding blanks ignored.
   *
   * @param text the duration, e.g. {@code 15s}
   * @return the duration, rounded to the nanosecond, exactly as written however long (the
   *     callers check their own bounds, e.g. {@link #MAX})
   * @throws IllegalArgumentException if {@code text} is null, empty or not of that form, with a
   *     message that shows the accepted forms, or longer than {@link Duration} can hold
   */
  public static Duration parse(String text) {
    String s = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
    if (s.isEmpty()) {
      throw new IllegalArgumentException("'' is not a duration (use e.g. 15s, 500ms, 1m)");
    }
    Matcher m = PART.matcher(s);
    int pos = 0;
    BigDecimal nanos = BigDecimal.ZERO;
    while (m.find() && m.start() == pos) {
      BigDecimal value = new BigDecimal(m.group(1));
      nanos = nanos.add(value.multiply(BigDecimal.valueOf(switch (m.group(2)) {
        case "ms" -> 1_000_000L;
        case "s" -> 1_000_000_000L;
        case "m" -> 60_000_000_000L;
        default -> 3_600_000_000_000L;
      })));
      pos = m.end();
    }
    if (pos != s.length() || pos == 0) {
      throw new IllegalArgumentException("'" + text + "' is not a duration (use e.g. 15s, 500ms, 1m)");
    }
    BigInteger whole = nanos.setScale(0, RoundingMode.HALF_UP).toBigIntegerExact();
    if (whole.compareTo(MAX_NANOS) > 0) {
      // More than a Duration holds: refused, never cut to what fits. Anything up to that is kept
      // exactly, so the caller's own bound (e.g. MAX) is what the operator reads about.
      throw new IllegalArgumentException("'" + text + "' is too long: at most " + MAX_IN_WORDS);
    }
    BigInteger[] secondsAndNanos = whole.divideAndRemainder(NANOS_PER_SECOND);
    return Duration.ofSeconds(secondsAndNanos[0].longValueExact(), secondsAndNanos[1].longValue());
  }

  /**
   * The inverse of {@link #parse} for messages, to the millisecond: {@code 2h}, {@code 2m},
   * {@code 15s}, {@code 500ms}, {@code 2.4s}.
   *
   * @param d the duration (not null), of any length
   * @return its shortest form in whole hours, whole minutes, whole seconds, milliseconds below a
   *     second, or seconds with up to three decimals
   */
  public static String format(Duration d) {
    Duration millisOnly = d.truncatedTo(java.time.temporal.ChronoUnit.MILLIS);
    long seconds = millisOnly.getSeconds();
    int millis = millisOnly.getNano() / 1_000_000;
    if (millis == 0 && seconds != 0 && seconds % 3600 == 0) {
      return (seconds / 3600) + "h";
    }
    if (millis == 0 && seconds != 0 && seconds % 60 == 0) {
      return (seconds / 60) + "m";
    }
    if (millis == 0) {
      return seconds + "s";
    }
    if (seconds == 0 || (seconds == -1 && d.isNegative())) {
      return millisOnly.toMillis() + "ms";
    }
    return BigDecimal.valueOf(seconds).add(BigDecimal.valueOf(millis, 3)).stripTrailingZeros()
        .toPlainString() + "s";
  }
}
