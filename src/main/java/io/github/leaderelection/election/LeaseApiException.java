package io.github.leaderelection.election;

import io.fabric8.kubernetes.client.KubernetesClientException;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertPathValidatorException;
import javax.net.ssl.SSLException;

/**
 * A failed Lease request, with the verb that failed and what an operator should do about it.
 *
 * <p>Expected failures (no permission, missing namespace, API server down, lost race) are logged as
 * one clear line and retried; none of them ends the process.
 */
final class LeaseApiException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final ApiVerb verb;
  private final int code;
  private final String server;

  /**
   * @param server the API server's URL, for messages about reaching it
   */
  public LeaseApiException(ApiVerb verb, KubernetesClientException cause, String server) {
    super(cause.getMessage(), cause);
    this.verb = verb;
    // fabric8 reports "no response" as 0 or -1 depending on where the request failed.
    this.code = Math.max(0, cause.getCode());
    this.server = server;
  }

  public ApiVerb verb() {
    return verb;
  }

  /** HTTP status, or 0 when no response arrived (connection refused, timeout). */
  public int code() {
    return code;
  }

  /** Another replica wrote first: the normal outcome of losing a race, not an error. */
  public boolean isConflict() {
    return code == 409;
  }

  /** No HTTP response at all: connection refused, reset or timed out. */
  public boolean isUnreachable() {
    return code == 0;
  }

  /**
   * The TLS handshake with the API server failed. Not a verb's problem, and no retry fixes it: the
   * configuration does.
   */
  public boolean isTls() {
    for (Throwable t = getCause(); t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof SSLException || t instanceof CertPathValidatorException
          || t instanceof CertPathBuilderException) {
        return true;
      }
    }
    return false;
  }

  /** The server's certificate does not chain to the configured CA (unlike other TLS errors). */
  private boolean isUntrusted() {
    for (Throwable t = getCause(); t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof CertPathValidatorException || t instanceof CertPathBuilderException
          || String.valueOf(t.getMessage()).contains("PKIX path")) {
        return true;
      }
    }
    return false;
  }

  /**
   * A stable key for "same failure as last time", so repeated failures are not logged every round.
   * TLS failures share one key whatever the verb: they are the same misconfiguration.
   */
  public String kind() {
    return isTls() ? "tls" : verb + "/" + code;
  }

  /**
   * One line that says what went wrong and what to do.
   *
   * @param leaseKey {@code namespace/name}
   */
  public String explain(String leaseKey) {
    if (isTls()) {
      return isUntrusted()
          ? "TLS: the API server's certificate at " + server + " is not trusted by the"
              + " configured CA (certificate-authority / certificate-authority-data in the"
              + " kubeconfig, or the in-cluster ca.crt): " + rootMessage()
          : "TLS: the handshake with the API server " + server + " failed; check its URL, the"
              + " configured CA (certificate-authority / certificate-authority-data in the"
              + " kubeconfig, or the in-cluster ca.crt) and the client certificate: "
              + rootMessage();
    }
    String namespace = leaseKey.substring(0, leaseKey.indexOf('/'));
    String verbName = verb.name().toLowerCase(java.util.Locale.ROOT);
    return switch (code) {
      case 401 -> "unauthorized (401) to " + verbName + " lease " + leaseKey
          + ": the credentials were rejected; check the ServiceAccount token or --kubeconfig";
      case 403 -> "forbidden (403): missing permission to " + verbName
          + " leases.coordination.k8s.io in namespace " + namespace
          + "; apply k8s/rbac.yaml (Role leaderelection-role grants get, create, update on leases)"
          + " and bind it to this pod's ServiceAccount";
      case 404 -> "namespace " + namespace + " not found (404) when trying to " + verbName
          + " lease " + leaseKey + "; create the namespace or pass --lease-namespace";
      case 409 -> "conflict (409) on " + verbName + " of lease " + leaseKey
          + ": another replica wrote first";
      case 0 -> "cannot reach the API server " + server + " to " + verbName + " lease "
          + leaseKey + " (" + rootMessage() + "); is it running and reachable? retrying with backoff";
      default -> "API error " + code + " on " + verbName + " of lease " + leaseKey + ": "
          + serverMessage();
    };
  }

  /** The API server's own explanation (Status.message) when it sent one; fabric8's text is longer. */
  private String serverMessage() {
    KubernetesClientException cause = (KubernetesClientException) getCause();
    if (cause.getStatus() != null && cause.getStatus().getMessage() != null) {
      return cause.getStatus().getMessage();
    }
    return rootMessage();
  }

  private String rootMessage() {
    Throwable t = this;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    String m = t.getMessage();
    return t.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""));
  }
}
