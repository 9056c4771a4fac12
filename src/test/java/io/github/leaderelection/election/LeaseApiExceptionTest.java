package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import ch.qos.logback.classic.spi.ILoggingEvent;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.net.ConnectException;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertificateException;
import java.time.Duration;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** What an operator reads about a failed Lease request, and how often. */
class LeaseApiExceptionTest {

  private static final String SERVER = "https://10.0.0.1:6443/";
  private static final String KEY = "ns/my-lease";

  /** The JDK's chain for a server certificate that does not chain to any trusted CA. */
  private static KubernetesClientException untrusted() {
    SSLHandshakeException handshake = new SSLHandshakeException("PKIX path building failed:"
        + " sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid"
        + " certification path to requested target");
    handshake.initCause(new CertPathBuilderException(
        "unable to find valid certification path to requested target"));
    return new KubernetesClientException("An error has occurred.", handshake);
  }

  @DisplayName("a server certificate the CA does not verify: one line naming the CA settings")
  @Test
  void untrustedCertificateNamesTheCaSetting() {
    LeaseApiException e = new LeaseApiException(ApiVerb.GET, untrusted(), SERVER);
    assertThat(e.isTls()).isTrue();
    assertThat(e.explain(KEY)).isEqualTo("TLS: the API server's certificate at " + SERVER
        + " is not trusted by the configured CA (certificate-authority /"
        + " certificate-authority-data in the kubeconfig, or the in-cluster ca.crt):"
        + " CertPathBuilderException: unable to find valid certification path to requested"
        + " target");
  }

  @DisplayName("other handshake failures (e.g. a host name not in the certificate) say TLS too")
  @Test
  void otherHandshakeFailures() {
    SSLHandshakeException handshake = new SSLHandshakeException("No subject alternative names"
        + " matching IP address 10.0.0.1 found");
    handshake.initCause(new CertificateException(
        "No subject alternative names matching IP address 10.0.0.1 found"));
    LeaseApiException e = new LeaseApiException(ApiVerb.UPDATE,
        new KubernetesClientException("An error has occurred.", handshake), SERVER);
    assertThat(e.explain(KEY)).startsWith("TLS: the handshake with the API server " + SERVER
        + " failed; check its URL, the configured CA").endsWith(
        ": CertificateException: No subject alternative names matching IP address 10.0.0.1 found")
        .doesNotContain("\n");
  }

  @DisplayName("TLS failures are one kind whatever the verb; unreachable servers keep their message")
  @Test
  void kinds() {
    assertThat(new LeaseApiException(ApiVerb.GET, untrusted(), SERVER).kind())
        .isEqualTo(new LeaseApiException(ApiVerb.UPDATE, untrusted(), SERVER).kind())
        .isEqualTo("tls");
    LeaseApiException refused = new LeaseApiException(ApiVerb.GET,
        new KubernetesClientException("An error has occurred.",
            new ConnectException("Connection refused")), SERVER);
    assertThat(refused.isTls()).isFalse();
    assertThat(refused.kind()).isEqualTo("GET/0");
    assertThat(refused.explain(KEY)).isEqualTo("cannot reach the API server " + SERVER
        + " to get lease " + KEY + " (ConnectException: Connection refused); is it running and"
        + " reachable? retrying with backoff");
  }

  @DisplayName("the TLS line is logged at once, then at most every 30 s, never with a stack trace")
  @Test
  void tlsFailureIsLoggedAtMostEvery30Seconds() {
    ManualTicker ticker = new ManualTicker();
    FailureLog failures = new FailureLog(ticker);
    try (LogCapture logs = new LogCapture(FailureLog.class)) {
      for (int second = 0; second <= 60; second += 2) {
        ApiVerb verb = second % 4 == 0 ? ApiVerb.GET : ApiVerb.WATCH;
        LeaseApiException e = new LeaseApiException(verb, untrusted(), SERVER);
        failures.failed(e.kind(), e.explain(KEY));
        ticker.advance(Duration.ofSeconds(2));
      }
      assertThat(logs.messages()).hasSize(3).allMatch(m -> m.startsWith("TLS: the API server's"));
      assertThat(logs.events()).allMatch(event -> event.getThrowableProxy() == null);
    }
  }

  /**
   * fabric8's real client against a real TLS server whose certificate no configured CA signs:
   * the chain it throws is recognised, whatever fabric8 wraps it in.
   */
  @DisplayName("a real handshake with an untrusted server certificate is explained as TLS")
  @Test
  void realUntrustedServer() {
    KubernetesMockServer server = new KubernetesMockServer(true);
    server.start();
    try {
      String url = server.createClient().getConfiguration().getMasterUrl();
      Config config = new ConfigBuilder(Config.empty()).withMasterUrl(url)
          .withConnectionTimeout(5000).withRequestTimeout(5000).withRequestRetryBackoffLimit(0)
          .build();
      try (KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build()) {
        LeaseApiException e = catchThrowableOfType(LeaseApiException.class,
            () -> new LeaseLock(client, "ns", "my-lease").get());
        assertThat(e).isNotNull();
        assertThat(e.kind()).isEqualTo("tls");
        assertThat(e.explain(KEY)).startsWith("TLS: the API server's certificate at " + url
            + " is not trusted by the configured CA").doesNotContain("\n");
      }
    } finally {
      MockApi.destroy(server);
    }
  }
}
