package io.github.leaderelection.app.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.CoreConstants;
import ch.qos.logback.core.LayoutBase;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;

/**
 * klog's line format, so {@code kubectl logs} of this Java controller reads like a Go one:
 * {@code I1123 06:51:50.605439       1 LeaderElector.java:123] successfully acquired lease ...}
 * (severity letter, month and day, time with microseconds, process id, source file and line).
 */
public final class KlogLayout extends LayoutBase<ILoggingEvent> {

  private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("MMdd HH:mm:ss.SSSSSS")
      .withZone(ZoneId.systemDefault());
  private static final long PID = ProcessHandle.current().pid();

  @Override
  public String doLayout(ILoggingEvent event) {
    StringBuilder line = new StringBuilder(128);
    line.append(severity(event.getLevel()));
    line.append(TIME.format(Instant.ofEpochSecond(event.getTimeStamp() / 1000,
        event.getNanoseconds() >= 0 ? event.getNanoseconds() : (event.getTimeStamp() % 1000) * 1_000_000)));
    line.append(String.format(" %7d ", PID));
    line.append(Callers.of(event)).append("] ");
    line.append(event.getFormattedMessage());
    line.append(CoreConstants.LINE_SEPARATOR);
    if (event.getThrowableProxy() != null) {
      line.append(ThrowableProxyUtil.asString(event.getThrowableProxy()));
      line.append(CoreConstants.LINE_SEPARATOR);
    }
    return line.toString();
  }

  static char severity(Level level) {
    if (level.isGreaterOrEqual(Level.ERROR)) {
      return 'E';
    }
    return level.isGreaterOrEqual(Level.WARN) ? 'W' : 'I';
  }
}
