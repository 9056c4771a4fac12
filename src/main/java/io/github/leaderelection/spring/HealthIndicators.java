package io.github.leaderelection.spring;

import io.github.leaderelection.election.LeaderElection;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.Map;
import java.util.function.Supplier;
import org.springframework.beans.factory.BeanClassLoaderAware;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.support.BeanDefinitionRegistry;
import org.springframework.beans.factory.support.RootBeanDefinition;
import org.springframework.context.annotation.ImportBeanDefinitionRegistrar;
import org.springframework.core.type.AnnotationMetadata;

/**
 * The election's health indicator (bean {@code leaderElectionHealthIndicator}, health component
 * {@code leaderElection}) for both Boot lines from one jar: Boot 4 has {@code HealthIndicator} in
 * {@code org.springframework.boot.health.contributor}, Boot 3 in
 * {@code org.springframework.boot.actuate.health}, with the same {@code health()} method and
 * {@code Health.Builder}. The jar is compiled against neither: the indicator is a proxy of whichever
 * interface is on the class path, building its {@code Health} through that builder.
 */
final class HealthIndicators implements ImportBeanDefinitionRegistrar, BeanClassLoaderAware {

  static final String BOOT_4 = "org.springframework.boot.health.contributor";
  static final String BOOT_3 = "org.springframework.boot.actuate.health";
  static final String BEAN_NAME = "leaderElectionHealthIndicator";

  private ClassLoader classLoader = HealthIndicators.class.getClassLoader();

  @Override
  public void setBeanClassLoader(ClassLoader classLoader) {
    this.classLoader = classLoader;
  }

  @Override
  public void registerBeanDefinitions(AnnotationMetadata metadata,
      BeanDefinitionRegistry registry) {
    String pkg = present(BOOT_4 + ".HealthIndicator") ? BOOT_4
        : present(BOOT_3 + ".HealthIndicator") ? BOOT_3 : null;
    if (pkg == null || registry.containsBeanDefinition(BEAN_NAME)
        || !(registry instanceof BeanFactory factory)) {
      return;
    }
    Class<?> type = load(pkg + ".HealthIndicator");
    RootBeanDefinition definition = new RootBeanDefinition();
    definition.setTargetType(type);
    definition.setInstanceSupplier(() -> create(classLoader, pkg,
        () -> factory.getBean(LeaderElection.class),
        () -> factory.getBean(LeaderElectionLifecycle.class)));
    registry.registerBeanDefinition(BEAN_NAME, definition);
  }

  private boolean present(String name) {
    try {
      Class.forName(name, false, classLoader);
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
  }

  private Class<?> load(String name) {
    try {
      return Class.forName(name, false, classLoader);
    } catch (ClassNotFoundException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A {@code pkg.HealthIndicator} reporting the election. */
  static Object create(ClassLoader loader, String pkg, Supplier<LeaderElection> election,
      Supplier<LeaderElectionLifecycle> lifecycle) {
    try {
      Class<?> indicator = Class.forName(pkg + ".HealthIndicator", true, loader);
      Class<?> builder = Class.forName(pkg + ".Health$Builder", true, loader);
      Method status = builder.getMethod("status", String.class);
      Method withDetails = builder.getMethod("withDetails", Map.class);
      Method build = builder.getMethod("build");
      InvocationHandler handler = (proxy, method, args) -> {
        if (method.getName().equals("health") && method.getParameterCount() == 0) {
          LeaderElection e = election.get();
          LeaderElectionLifecycle l = lifecycle.get();
          Object b = builder.getConstructor().newInstance();
          status.invoke(b, ElectionStatus.status(e, l));
          withDetails.invoke(b, ElectionStatus.details(e, l));
          return build.invoke(b);
        }
        if (method.isDefault()) {
          return InvocationHandler.invokeDefault(proxy, method, args);
        }
        return switch (method.getName()) {
          case "toString" -> "LeaderElectionHealthIndicator";
          case "hashCode" -> System.identityHashCode(proxy);
          case "equals" -> proxy == args[0];
          default -> throw new UnsupportedOperationException(method.toString());
        };
      };
      return Proxy.newProxyInstance(loader, new Class<?>[] {indicator}, handler);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot make the health indicator from " + pkg, e);
    }
  }
}
