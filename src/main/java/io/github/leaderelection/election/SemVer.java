package io.github.leaderelection.election;

import java.math.BigInteger;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A semantic version (semver.org 2.0.0) as the API server reads a LeaseCandidate's
 * {@code binaryVersion} and {@code emulationVersion}: {@code MAJOR.MINOR.PATCH}, an optional
 * {@code -pre.release} and {@code +build}, no leading {@code v}. The server parses these strictly
 * when it validates a candidate (a value it rejects would make every create fail with 422), so
 * the command line checks them with the same grammar, and compares them with semver's precedence
 * (the election prefers the lowest emulation version, then the lowest binary version).
 */
record SemVer(BigInteger major, BigInteger minor, BigInteger patch, List<String> preRelease,
    String text) implements Comparable<SemVer> {

  private static final String NUMBER = "0|[1-9]\\d*";
  private static final String PRE_ID = "0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*";
  private static final Pattern GRAMMAR = Pattern.compile(
      "(" + NUMBER + ")\\.(" + NUMBER + ")\\.(" + NUMBER + ")"
          + "(?:-((?:" + PRE_ID + ")(?:\\.(?:" + PRE_ID + "))*))?"
          + "(?:\\+[0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*)?");

  public SemVer {
    Objects.requireNonNull(major);
    Objects.requireNonNull(minor);
    Objects.requireNonNull(patch);
    preRelease = List.copyOf(preRelease);
  }

  /**
   * @return the version, or null when {@code text} is not a semantic version
   */
  public static SemVer parseOrNull(String text) {
    if (text == null) {
      return null;
    }
    Matcher m = GRAMMAR.matcher(text);
    if (!m.matches()) {
      return null;
    }
    List<String> pre = m.group(4) == null ? List.of() : List.of(m.group(4).split("\\."));
    return new SemVer(new BigInteger(m.group(1)), new BigInteger(m.group(2)),
        new BigInteger(m.group(3)), pre, text);
  }

  /** True for 0.0.0 (with any pre-release): the server treats it as "no version given". */
  public boolean isZero() {
    return major.signum() == 0 && minor.signum() == 0 && patch.signum() == 0;
  }

  /** semver precedence: build metadata is ignored, a pre-release sorts before its release. */
  @Override
  public int compareTo(SemVer other) {
    int c = major.compareTo(other.major);
    if (c == 0) {
      c = minor.compareTo(other.minor);
    }
    if (c == 0) {
      c = patch.compareTo(other.patch);
    }
    if (c != 0) {
      return c;
    }
    if (preRelease.isEmpty() || other.preRelease.isEmpty()) {
      return Boolean.compare(preRelease.isEmpty(), other.preRelease.isEmpty());
    }
    for (int i = 0; i < Math.min(preRelease.size(), other.preRelease.size()); i++) {
      c = compareIdentifiers(preRelease.get(i), other.preRelease.get(i));
      if (c != 0) {
        return c;
      }
    }
    return Integer.compare(preRelease.size(), other.preRelease.size());
  }

  private static int compareIdentifiers(String a, String b) {
    boolean numericA = a.chars().allMatch(Character::isDigit);
    boolean numericB = b.chars().allMatch(Character::isDigit);
    if (numericA && numericB) {
      return new BigInteger(a).compareTo(new BigInteger(b));
    }
    if (numericA != numericB) {
      return numericA ? -1 : 1; // numeric identifiers have lower precedence
    }
    return a.compareTo(b);
  }

  @Override
  public String toString() {
    return text;
  }
}
