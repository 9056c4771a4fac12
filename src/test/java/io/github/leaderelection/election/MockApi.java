package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * fabric8's mock API server in CRUD mode (it stores Leases and enforces resourceVersion on
 * updates), with two additions for the tests: every request is recorded together with the manual
 * clock's time when it arrived, and faults can be injected in front of the CRUD store.
 */
public final class MockApi implements AutoCloseable {

  public static final String NAMESPACE = "test";
  public static final String LEASE = "my-lease";

  /**
   * One request of the elector's client as the server saw it; {@code tickerNanos} is the test
   * clock when it arrived. (The test's own requests are served but not recorded.)
   */
  public record Call(String method, String path, String body, long tickerNanos) {

    public boolean isLeaseGet() {
      return method.equals("GET") && path.endsWith("/leases/" + LEASE);
    }

    public boolean isWrite() {
      return method.equals("PUT") || method.equals("POST") || method.equals("PATCH");
    }
  }

  private final KubernetesCrudDispatcher crud = new KubernetesCrudDispatcher();
  private final List<Call> calls = new CopyOnWriteArrayList<>();
  private final List<Function<Call, MockResponse>> faults = new CopyOnWriteArrayList<>();
  private final LongSupplier clock;
  private final KubernetesMockServer server;
  /** The elector's client: its requests are recorded and subject to faults. */
  private final KubernetesClient client;
  /** The test's own client, to arrange and inspect the Lease behind the elector's back. */
  private final KubernetesClient testClient;
  private static final String TEST_AGENT = "test-driver";

  /** The mock server logs every request through java.util.logging: too noisy for test output. */
  private static final java.util.logging.Logger MOCK_LOG =
      java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

  static {
    MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
  }

  public MockApi(LongSupplier clock) {
    this.clock = clock;
    Dispatcher dispatcher = new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        // getBytes() leaves the body in place for the CRUD store (getUtf8Body() would consume it).
        String body = request.getBody() == null ? null
            : new String(request.getBody().getBytes(), StandardCharsets.UTF_8);
        Call call = new Call(request.getMethod(), request.getPath(), body, clock.getAsLong());
        if (TEST_AGENT.equals(request.getHeader("User-Agent"))) {
          return crud.dispatch(request);
        }
        calls.add(call);
        for (Function<Call, MockResponse> fault : faults) {
          MockResponse response = fault.apply(call);
          if (response != null) {
            return response;
          }
        }
        return crud.dispatch(request);
      }
    };
    server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
        dispatcher, false);
    server.init();
    client = server.createClient(b -> b.editOrNewConfig()
        .withRequestRetryBackoffLimit(0)
        .withRequestTimeout(5_000)
        .withConnectionTimeout(5_000)
        .withWatchReconnectInterval(200)
        .endConfig());
    testClient = server.createClient(b -> b.editOrNewConfig()
        .withUserAgent(TEST_AGENT)
        .withRequestRetryBackoffLimit(0)
        .endConfig());
  }

  public MockApi() {
    this(System::nanoTime);
  }

  public KubernetesClient client() {
    return client;
  }

  public LeaseLock lock() {
    return new LeaseLock(client, NAMESPACE, LEASE);
  }

  private LeaseLock testLock() {
    return new LeaseLock(testClient, NAMESPACE, LEASE);
  }

  public List<Call> calls() {
    return List.copyOf(calls);
  }

  public long count(java.util.function.Predicate<Call> filter) {
    return calls.stream().filter(filter).count();
  }

  public void clearCalls() {
    calls.clear();
  }

  /** Answers matching requests with {@code response} instead of the CRUD store, until cleared. */
  public void fail(java.util.function.Predicate<Call> match, int code, String reason, String message) {
    faults.add(call -> match.test(call) ? status(code, reason, message) : null);
  }

  public void addFault(Function<Call, MockResponse> fault) {
    faults.add(fault);
  }

  public void clearFaults() {
    faults.clear();
  }

  public static MockResponse status(int code, String reason, String message) {
    String body = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        + "\"message\":\"" + message.replace("\"", "\\\"") + "\",\"reason\":\"" + reason
        + "\",\"code\":" + code + "}";
    return new MockResponse().setResponseCode(code).setBody(body)
        .setHeader("Content-Type", "application/json");
  }

  /** The Lease as stored, or null. */
  public Lease lease() {
    return testClient.leases().inNamespace(NAMESPACE).withName(LEASE).get();
  }

  public LeaderElectionRecord record() {
    Lease lease = lease();
    return lease == null ? null : LeaderElectionRecord.fromSpec(lease.getSpec());
  }

  /** Creates the Lease directly, as another replica (or an operator) would. */
  public Lease createLease(String holder, int durationSeconds, Instant acquire, Instant renew,
      int transitions) {
    Lease lease = new LeaseBuilder()
        .withNewMetadata().withNamespace(NAMESPACE).withName(LEASE).endMetadata()
        .withNewSpec()
        .withHolderIdentity(holder)
        .withLeaseDurationSeconds(durationSeconds)
        .withAcquireTime(acquire.atZone(ZoneOffset.UTC))
        .withRenewTime(renew.atZone(ZoneOffset.UTC))
        .withLeaseTransitions(transitions)
        .endSpec()
        .build();
    return testClient.leases().inNamespace(NAMESPACE).resource(lease).create();
  }

  /** Deletes the Lease behind every replica's back, as an operator's {@code kubectl delete lease}. */
  public void deleteLease() {
    testClient.leases().inNamespace(NAMESPACE).withName(LEASE).delete();
  }

  /** Replaces the stored Lease as given (conditional on its resourceVersion), by hand. */
  public Lease replaceLease(Lease lease) {
    return testClient.leases().inNamespace(NAMESPACE).resource(lease).update();
  }

  /** Rewrites the stored record (conditional on the stored resourceVersion), as another replica. */
  /** Writes a record naming {@code holder} (for tests outside this package). */
  public Lease writeHolder(String holder, int durationSeconds, int transitions) {
    return writeRecord(new LeaderElectionRecord(holder, durationSeconds, null, null,
        transitions));
  }

  public Lease writeRecord(LeaderElectionRecord record) {
    return testLock().update(lease(), record);
  }

  /** Writes {@code record} as the process of incarnation {@code incarnation} would. */
  public Lease writeRecord(LeaderElectionRecord record, String incarnation) {
    if (incarnation == null) {
      return writeRecord(record);
    }
    return testClient.resource(LeaseWrites.forUpdate(lease(), record, java.util.Map.of(), true,
        incarnation)).update();
  }

  @Override
  public void close() {
    client.close();
    testClient.close();
    destroy(server);
  }

  /**
   * Stops a mock server. fabric8 8.0's vert.x mock server sometimes times out closing its
   * connections on a loaded machine ("Unable to close MockWebServer"): the test's assertions have
   * all run by then, and the next test starts its own server on another port.
   */
  static void destroy(io.fabric8.kubernetes.client.server.mock.KubernetesMockServer server) {
    try {
      server.destroy();
    } catch (IllegalStateException e) {
      System.err.println("mock API server: " + e.getMessage() + " (ignored)");
    }
  }
}
