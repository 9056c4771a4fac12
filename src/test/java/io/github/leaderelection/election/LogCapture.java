package io.github.leaderelection.election;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import org.slf4j.LoggerFactory;

/** Collects the log events of some loggers, for assertions on what operators would read. */
public final class LogCapture implements AutoCloseable {

  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();
  private final List<Logger> loggers;

  public LogCapture(Class<?>... sources) {
    appender.start();
    loggers = java.util.Arrays.stream(sources)
        .map(c -> (Logger) LoggerFactory.getLogger(c))
        .toList();
    loggers.forEach(l -> l.addAppender(appender));
  }

  public List<ILoggingEvent> events() {
    synchronized (appender) {
      return List.copyOf(appender.list);
    }
  }

  public List<String> messages() {
    return events().stream().map(ILoggingEvent::getFormattedMessage).toList();
  }

  @Override
  public void close() {
    loggers.forEach(l -> l.detachAppender(appender));
    appender.stop();
  }
}
