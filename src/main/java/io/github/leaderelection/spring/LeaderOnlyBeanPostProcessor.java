package io.github.leaderelection.spring;

import java.util.function.Supplier;
import org.springframework.aop.framework.autoproxy.AbstractBeanFactoryAwareAdvisingPostProcessor;
import org.springframework.aop.support.ComposablePointcut;
import org.springframework.aop.support.DefaultPointcutAdvisor;
import org.springframework.aop.support.annotation.AnnotationMatchingPointcut;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.core.Ordered;

/**
 * Proxies beans with {@link LeaderOnly} methods (or the annotation on the class), as Spring's
 * {@code @Async} support does: no AspectJ needed. Ordered before Spring's
 * {@code ScheduledAnnotationBeanPostProcessor}, so {@code @Scheduled} calls go through the proxy.
 * The gate is looked up at the first call, so this post-processor pulls no other bean in early.
 */
public class LeaderOnlyBeanPostProcessor extends AbstractBeanFactoryAwareAdvisingPostProcessor {

  private static final long serialVersionUID = 1L;

  /** A post-processor with class-based proxies (a {@code @Scheduled} method needs no interface). */
  public LeaderOnlyBeanPostProcessor() {
    setProxyTargetClass(true);
    setBeforeExistingAdvisors(true);
    setOrder(Ordered.LOWEST_PRECEDENCE - 1);
  }

  @Override
  public void setBeanFactory(BeanFactory beanFactory) {
    super.setBeanFactory(beanFactory);
    ComposablePointcut pointcut = new ComposablePointcut(
        new AnnotationMatchingPointcut(LeaderOnly.class, true))
        .union(new AnnotationMatchingPointcut(null, LeaderOnly.class, true));
    this.advisor = new DefaultPointcutAdvisor(pointcut, new LeaderOnlyInterceptor(new Supplier<>() {
      private volatile LeaderGate gate;

      @Override
      public LeaderGate get() {
        LeaderGate g = gate;
        if (g == null) {
          g = beanFactory.getBean(LeaderGate.class);
          gate = g;
        }
        return g;
      }
    }));
  }
}
