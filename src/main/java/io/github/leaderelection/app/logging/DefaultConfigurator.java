package io.github.leaderelection.app.logging;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.core.spi.ContextAwareBase;

/**
 * Logback's start-up configuration (found through ServiceLoader): klog text on stderr until the
 * flags choose otherwise. Configuring in code instead of logback.xml saves the XML parse at start-up.
 */
public final class DefaultConfigurator extends ContextAwareBase implements Configurator {

  @Override
  public ExecutionStatus configure(LoggerContext context) {
    LogSetup.install(context, LogSetup.Format.text);
    return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
  }
}
