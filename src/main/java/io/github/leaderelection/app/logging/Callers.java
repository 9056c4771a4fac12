package io.github.leaderelection.app.logging;

import ch.qos.logback.classic.spi.ILoggingEvent;

/** {@code File.java:123} of the logging call, as klog prints it. */
final class Callers {

  private Callers() {
  }

  static String of(ILoggingEvent event) {
    StackTraceElement[] callers = event.getCallerData();
    if (callers == null || callers.length == 0 || callers[0].getFileName() == null) {
      return "?:0";
    }
    return callers[0].getFileName() + ":" + callers[0].getLineNumber();
  }
}
