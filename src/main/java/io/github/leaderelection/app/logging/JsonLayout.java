package io.github.leaderelection.app.logging;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.CoreConstants;
import ch.qos.logback.core.LayoutBase;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import org.slf4j.event.KeyValuePair;

/**
 * One JSON object per line, for log pipelines: {@code ts}, {@code level}, {@code caller},
 * {@code msg}, the replica's {@code identity} and {@code lease}, plus any key-value pairs the call
 * attached (the elector adds {@code event} to leadership changes).
 */
public final class JsonLayout extends LayoutBase<ILoggingEvent> {

  @Override
  public String doLayout(ILoggingEvent event) {
    StringBuilder json = new StringBuilder(192).append('{');
    field(json, "ts", Instant.ofEpochMilli(event.getTimeStamp()).toString());
    field(json, "level", event.getLevel().toString().toLowerCase(Locale.ROOT));
    field(json, "caller", Callers.of(event));
    field(json, "msg", event.getFormattedMessage());
    Map<String, String> context = event.getLoggerContextVO().getPropertyMap();
    for (String key : LogSetup.CONTEXT_KEYS) {
      if (context.get(key) != null) {
        field(json, key, context.get(key));
      }
    }
    if (event.getKeyValuePairs() != null) {
      for (KeyValuePair kv : event.getKeyValuePairs()) {
        field(json, kv.key, String.valueOf(kv.value));
      }
    }
    if (event.getThrowableProxy() != null) {
      field(json, "error", ThrowableProxyUtil.asString(event.getThrowableProxy()));
    }
    json.setLength(json.length() - 1);
    return json.append('}').append(CoreConstants.LINE_SEPARATOR).toString();
  }

  private static void field(StringBuilder json, String key, String value) {
    quote(json, key);
    json.append(':');
    quote(json, value);
    json.append(',');
  }

  static void quote(StringBuilder json, String s) {
    json.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> json.append("\\\"");
        case '\\' -> json.append("\\\\");
        case '\n' -> json.append("\\n");
        case '\r' -> json.append("\\r");
        case '\t' -> json.append("\\t");
        default -> {
          if (c < 0x20) {
            json.append(String.format("\\u%04x", (int) c));
          } else {
            json.append(c);
          }
        }
      }
    }
    json.append('"');
  }
}
