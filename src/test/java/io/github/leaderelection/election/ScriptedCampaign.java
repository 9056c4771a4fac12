package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The real {@link Campaign} with nothing around it: no threads, no HTTP. The test moves the clock,
 * calls {@link #tick()}, reads the request the campaign sent and answers it, all on its own
 * thread, so each step of the state machine is explicit and instant. A one-object "server" stores
 * what the campaign writes, giving every stored write the next resourceVersion.
 */
final class ScriptedCampaign {

  static final long S = 1_000_000_000L;
  static final String LEASE_NAME = "l";
  static final String NAMESPACE = "n";

  final ManualTicker ticker = new ManualTicker();
  final ElectionConfig config;
  final LeaseView view;
  final RecordingListener listener = new RecordingListener();
  final Metrics metrics = new Metrics();
  final List<Campaign.Request> sent = new ArrayList<>();
  final List<Campaign.Request> abandoned = new ArrayList<>();
  final Campaign campaign;
  boolean stopRequested;
  boolean watchLive;
  int wakes;
  /** What the server stores, or null when the Lease does not exist. */
  Lease stored;
  long resourceVersion = 100;

  /** Counts the slow paths and observed transitions too. */
  static final class Metrics extends RecordingMetrics {
    int slowpath;
    int transitions;

    @Override
    public void slowpathExercised() {
      slowpath++;
    }

    @Override
    public void transitionObserved() {
      transitions++;
    }

    int transitions() {
      return transitions;
    }
  }

  ScriptedCampaign(ElectionConfig config) {
    this.config = config;
    this.view = new LeaseView(config.leaseDuration().toNanos());
    this.campaign = new Campaign(config, view, ticker, new Campaign.Port() {
      @Override
      public void send(Campaign.Request request) {
        sent.add(request);
      }

      @Override
      public void abandon(Campaign.Request request) {
        abandoned.add(request);
      }

      @Override
      public void wake() {
        wakes++;
      }
    }, listener, metrics, () -> watchLive, () -> stopRequested, new Random(1), null);
  }

  /** "me", lease 15 s, renew deadline 10 s, retry 2 s, release on stop, polling. */
  static ElectionConfig config(boolean releaseOnCancel, boolean watch) {
    return new ElectionConfig(NAMESPACE, LEASE_NAME, "me", Duration.ofSeconds(15),
        Duration.ofSeconds(10), Duration.ofSeconds(2), releaseOnCancel, watch);
  }

  static ScriptedCampaign polling() {
    return new ScriptedCampaign(config(true, false));
  }

  long now() {
    return ticker.nanoTime();
  }

  long tick() {
    return campaign.tick();
  }

  void advance(Duration d) {
    ticker.advance(d);
  }

  /** The request in flight; fails the test if there is none. */
  Campaign.Request inFlight() {
    Campaign.Request r = campaign.inFlight();
    if (r == null) {
      throw new AssertionError("no request in flight; sent: " + sent);
    }
    return r;
  }

  Campaign.Request last() {
    return sent.get(sent.size() - 1);
  }

  /** Answers the request in flight as the server would: a read returns what is stored, a write is stored. */
  Lease serve() {
    return serve(inFlight());
  }

  Lease serve(Campaign.Request r) {
    Lease answer;
    if (r.verb() == ApiVerb.GET) {
      answer = stored == null ? null : copy(stored);
    } else {
      stored = new LeaseBuilder(r.toSend()).editMetadata()
          .withResourceVersion(Long.toString(++resourceVersion)).endMetadata().build();
      answer = copy(stored);
    }
    campaign.completed(r, Campaign.Reply.ok(answer));
    return answer;
  }

  /** Answers the request in flight with an API error of {@code code}. */
  void fail(int code) {
    fail(inFlight(), code);
  }

  void fail(Campaign.Request r, int code) {
    campaign.completed(r, Campaign.Reply.failed(new LeaseApiException(r.verb(),
        new KubernetesClientException("injected", code, null), "https://test/")));
  }

  /** Puts {@code record} into the server's Lease behind the campaign's back (another writer). */
  Lease storeOther(LeaderElectionRecord record) {
    return storeOther(record, null);
  }

  /** As {@link #storeOther(LeaderElectionRecord)}, written under {@code incarnation} (or none). */
  Lease storeOther(LeaderElectionRecord record, String incarnation) {
    Lease lease = new LeaseBuilder().withNewMetadata().withName(LEASE_NAME)
        .withNamespace(NAMESPACE).withResourceVersion(Long.toString(++resourceVersion))
        .endMetadata().withNewSpec().endSpec().build();
    if (incarnation != null) {
      lease.getMetadata().setAnnotations(java.util.Map.of(Incarnation.ANNOTATION, incarnation));
    }
    record.applyTo(lease.getSpec());
    stored = lease;
    return copy(lease);
  }

  /** Runs rounds until the campaign leads: read, create. */
  Term lead() {
    tick();
    serve(); // read: not found
    tick();
    serve(); // create
    tick();
    Term t = campaign.term();
    if (t == null) {
      throw new AssertionError("not leading after read and create; sent: " + sent);
    }
    return t;
  }

  static LeaderElectionRecord held(String holder) {
    Instant t = ManualTicker.START_WALL;
    return new LeaderElectionRecord(holder, 15, t, t, 3);
  }

  private static Lease copy(Lease lease) {
    return new LeaseBuilder(lease).build();
  }
}
