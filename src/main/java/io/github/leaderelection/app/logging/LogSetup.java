package io.github.leaderelection.app.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.LayoutBase;
import ch.qos.logback.core.encoder.LayoutWrappingEncoder;
import java.util.List;
import org.slf4j.LoggerFactory;

/** Installs the chosen log format once the flags are parsed. Logs go to stderr, as klog's do. */
public final class LogSetup {

  /** Per-replica fields every JSON line carries. */
  static final List<String> CONTEXT_KEYS = List.of("identity", "lease");

  /** {@code --log-format}. */
  public enum Format { text, json }

  private LogSetup() {
  }

  /** Switches to {@code format} and stamps every line with the replica's identity and lease. */
  public static void configure(Format format, String identity, String leaseKey) {
    LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    context.putProperty("identity", identity);
    context.putProperty("lease", leaseKey);
    install(context, format);
  }

  /** The whole logging configuration, in code: no XML to parse at start-up. */
  static void install(LoggerContext context, Format format) {
    LayoutBase<ILoggingEvent> layout = format == Format.json ? new JsonLayout() : new KlogLayout();
    layout.setContext(context);
    layout.start();
    LayoutWrappingEncoder<ILoggingEvent> encoder = new LayoutWrappingEncoder<>();
    encoder.setContext(context);
    encoder.setLayout(layout);
    encoder.start();
    ConsoleAppender<ILoggingEvent> appender = new ConsoleAppender<>();
    appender.setContext(context);
    appender.setName("stderr");
    appender.setTarget("System.err");
    appender.setEncoder(encoder);
    appender.start();
    Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    root.detachAndStopAllAppenders();
    root.addAppender(appender);
    root.setLevel(Level.INFO);
    // The elector reports API failures itself, once and clearly; fabric8's own retries and
    // reconnects would repeat them in less useful words.
    context.getLogger("io.fabric8").setLevel(Level.ERROR);
  }
}
