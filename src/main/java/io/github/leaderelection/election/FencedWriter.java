package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.Resource;
import java.util.HashMap;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * {@link Term#fencedUpdate}: read, compare the stored token, write conditional on what was read.
 *
 * <p>Why it is safe: the refusal is decided on an object the API server then writes only if it is
 * unchanged since it was read (its resourceVersion). A write under token {@code t} therefore lands
 * only on an object whose stored token was at most {@code t} at the instant of the write, so once
 * token {@code n} is stored no write under a token below {@code n} can land, however long the
 * writer paused between its checks and its request.
 */
final class FencedWriter {

  /** The annotation that carries the token of the term that last wrote the object. */
  static final String TOKEN_ANNOTATION = "leaderelection.github.io/fencing-token";
  /** The annotation that carries the identity that last wrote the object. */
  static final String HOLDER_ANNOTATION = "leaderelection.github.io/fenced-by";
  /** Conflicts (concurrent writers of the same token or a newer one) before giving up. */
  static final int MAX_ATTEMPTS = 5;

  private FencedWriter() {
  }

  /** The fencing rule: a write under {@code token} may replace what {@code stored} wrote. */
  static boolean admits(long stored, long token) {
    return token >= stored;
  }

  /** The token stored in {@code object}, or -1 if none (never fenced, or absent). */
  static long storedToken(HasMetadata object) {
    if (object == null || object.getMetadata() == null
        || object.getMetadata().getAnnotations() == null) {
      return -1;
    }
    String value = object.getMetadata().getAnnotations().get(TOKEN_ANNOTATION);
    if (value == null) {
      return -1;
    }
    try {
      return Long.parseLong(value.trim());
    } catch (NumberFormatException e) {
      // Edited by hand into something else: the object no longer says who wrote last, so nobody
      // may be sure to be newer. Treat it as newer than any token.
      return Long.MAX_VALUE;
    }
  }

  static <T extends HasMetadata> T update(Term term, Resource<T> target, UnaryOperator<T> edit) {
    KubernetesClient client = term.client();
    if (client == null) {
      throw new IllegalStateException("this term has no API client (a test term)");
    }
    KubernetesClientException lastConflict = null;
    for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      term.checkValid();
      T current = target.get();
      long stored = storedToken(current);
      if (!admits(stored, term.fencingToken())) {
        throw new StaleTokenException(key(current), term.fencingToken(), stored,
            current.getMetadata().getAnnotations().getOrDefault(HOLDER_ANNOTATION, ""));
      }
      String readVersion = current == null ? null : current.getMetadata().getResourceVersion();
      T next = edit.apply(current);
      if (next == null) {
        throw new IllegalArgumentException("fencedUpdate: edit returned null");
      }
      if (next.getMetadata() == null) {
        throw new IllegalArgumentException("fencedUpdate: the object to write has no metadata");
      }
      Map<String, String> annotations = next.getMetadata().getAnnotations() == null
          ? new HashMap<>() : new HashMap<>(next.getMetadata().getAnnotations());
      annotations.put(TOKEN_ANNOTATION, Long.toString(term.fencingToken()));
      annotations.put(HOLDER_ANNOTATION, term.identity());
      next.getMetadata().setAnnotations(annotations);
      // Conditional on what was read: an update carries its resourceVersion (409 if anybody wrote
      // since), a create fails with 409 if the object appeared meanwhile.
      next.getMetadata().setResourceVersion(readVersion);
      term.checkValid();
      try {
        return current == null ? client.resource(next).create() : client.resource(next).update();
      } catch (KubernetesClientException e) {
        if (e.getCode() != 409) {
          throw e;
        }
        lastConflict = e; // somebody wrote in between: read and check again
      }
    }
    throw lastConflict;
  }

  private static String key(HasMetadata object) {
    return object.getMetadata().getNamespace() + "/" + object.getMetadata().getName();
  }
}
