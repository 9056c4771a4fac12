package io.github.leaderelection.spring;

import io.github.leaderelection.election.Term;
import java.lang.reflect.Method;
import java.util.Optional;
import java.util.function.Supplier;
import org.aopalliance.intercept.MethodInterceptor;
import org.aopalliance.intercept.MethodInvocation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The advice of {@link LeaderOnly}: lets a call through only inside a valid term (see {@link LeaderGate}). */
final class LeaderOnlyInterceptor implements MethodInterceptor {

  private static final Logger log = LoggerFactory.getLogger(LeaderOnly.class);

  private final Supplier<LeaderGate> gate;

  LeaderOnlyInterceptor(Supplier<LeaderGate> gate) {
    this.gate = gate;
  }

  @Override
  public Object invoke(MethodInvocation invocation) throws Throwable {
    Method method = invocation.getMethod();
    LeaderGate g = gate.get();
    LeaderGate.Run run = g.enter();
    if (run == null) {
      if (log.isDebugEnabled()) {
        log.debug("skipped {}.{}: {}", method.getDeclaringClass().getSimpleName(),
            method.getName(), g.isShutDown() ? "shutting down" : "not the leader");
      }
      return skipped(method.getReturnType());
    }
    Term before = LeaderContext.enter(run.term());
    try {
      Object[] args = invocation.getArguments();
      Class<?>[] types = method.getParameterTypes();
      for (int i = 0; i < types.length; i++) {
        if (types[i] == Term.class && args[i] == null) {
          args[i] = run.term();
        }
      }
      return invocation.proceed();
    } finally {
      LeaderContext.restore(before);
      g.exit(run);
    }
  }

  static Object skipped(Class<?> type) {
    if (type == Optional.class) {
      return Optional.empty();
    }
    if (!type.isPrimitive() || type == void.class) {
      return null;
    }
    if (type == boolean.class) {
      return false;
    }
    if (type == char.class) {
      return '\0';
    }
    if (type == long.class) {
      return 0L;
    }
    if (type == double.class) {
      return 0d;
    }
    if (type == float.class) {
      return 0f;
    }
    if (type == byte.class) {
      return (byte) 0;
    }
    if (type == short.class) {
      return (short) 0;
    }
    return 0;
  }
}
