package io.github.leaderelection.app.logging;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import ch.qos.logback.core.LayoutBase;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The two log formats, rendered by a private logback context (the global one is left alone). */
class LayoutTest {

  private static final Pattern KLOG = Pattern.compile(
      "([IWE])(\\d{4}) (\\d{2}):(\\d{2}):(\\d{2})\\.(\\d{6}) +(\\d+) ([A-Za-z]+\\.java):(\\d+)\\] (.*)");

  private final LoggerContext context = new LoggerContext();
  private final List<String> rendered = new CopyOnWriteArrayList<>();

  private Logger logger(LayoutBase<ILoggingEvent> layout) {
    layout.setContext(context);
    layout.start();
    AppenderBase<ILoggingEvent> appender = new AppenderBase<>() {
      @Override
      protected void append(ILoggingEvent event) {
        rendered.add(layout.doLayout(event));
      }
    };
    appender.setContext(context);
    appender.start();
    Logger logger = context.getLogger("test");
    logger.setAdditive(false);
    logger.setLevel(Level.DEBUG);
    logger.addAppender(appender);
    return logger;
  }

  private static int line() {
    return new Throwable().getStackTrace()[1].getLineNumber();
  }

  @Test
  void klogLineShape() {
    Logger log = logger(new KlogLayout());
    String today = LocalDate.now(ZoneId.systemDefault()).format(DateTimeFormatter.ofPattern("MMdd"));
    int line = line(); log.info("successfully acquired lease {}", "default/my-lease");

    assertThat(rendered).hasSize(1);
    String out = rendered.get(0);
    assertThat(out).endsWith(System.lineSeparator()).hasLineCount(1);
    Matcher m = KLOG.matcher(out.strip());
    assertThat(m.matches()).as(out).isTrue();
    assertThat(m.group(1)).isEqualTo("I");
    assertThat(m.group(2)).isIn(today,
        LocalDate.now(ZoneId.systemDefault()).format(DateTimeFormatter.ofPattern("MMdd")));
    assertThat(Long.parseLong(m.group(7))).isEqualTo(ProcessHandle.current().pid());
    assertThat(m.group(8)).isEqualTo("LayoutTest.java");
    assertThat(Integer.parseInt(m.group(9))).isEqualTo(line);
    assertThat(m.group(10)).isEqualTo("successfully acquired lease default/my-lease");
  }

  @Test
  void klogSeverityLetters() {
    Logger log = logger(new KlogLayout());
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    assertThat(rendered).extracting(s -> s.charAt(0)).containsExactly('I', 'I', 'W', 'E');
    assertThat(rendered).allSatisfy(s -> assertThat(KLOG.matcher(s.strip()).matches()).as(s).isTrue());
  }

  @Test
  void klogAppendsAStackTraceAfterTheLine() {
    Logger log = logger(new KlogLayout());
    log.error("leader work failed", new IllegalStateException("boom"));
    String[] lines = rendered.get(0).split("\\R");
    assertThat(KLOG.matcher(lines[0]).matches()).isTrue();
    assertThat(lines[0]).endsWith("] leader work failed");
    assertThat(lines[1]).contains("java.lang.IllegalStateException: boom");
  }

  @Test
  void jsonIsOneValidObjectPerLineWithReplicaFieldsAndEscapes() throws Exception {
    context.putProperty("identity", "pod-a");
    context.putProperty("lease", "default/my-lease");
    Logger log = logger(new JsonLayout());
    String tricky = "he said \"hi\"\nnext line\ttab \\ backslash \u0001 ctl";
    int line = line(); log.atInfo().addKeyValue("event", "acquired").log("{}", tricky);

    String out = rendered.get(0);
    assertThat(out).endsWith(System.lineSeparator()).hasLineCount(1);
    JsonNode json = new ObjectMapper().readTree(out);
    assertThat(json.get("msg").asText()).isEqualTo(tricky);
    assertThat(json.get("level").asText()).isEqualTo("info");
    assertThat(json.get("identity").asText()).isEqualTo("pod-a");
    assertThat(json.get("lease").asText()).isEqualTo("default/my-lease");
    assertThat(json.get("event").asText()).isEqualTo("acquired");
    assertThat(json.get("caller").asText()).isEqualTo("LayoutTest.java:" + line);
    assertThat(Instant.parse(json.get("ts").asText())).isBeforeOrEqualTo(Instant.now());
  }

  @Test
  void jsonKeepsAStackTraceInsideTheLine() throws Exception {
    Logger log = logger(new JsonLayout());
    log.warn("could not release lease", new RuntimeException("gone"));
    String out = rendered.get(0);
    assertThat(out).hasLineCount(1);
    JsonNode json = new ObjectMapper().readTree(out);
    assertThat(json.get("level").asText()).isEqualTo("warn");
    assertThat(json.get("error").asText()).contains("java.lang.RuntimeException: gone");
    assertThat(json.has("identity")).as("no identity configured, none printed").isFalse();
  }
}
