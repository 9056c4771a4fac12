package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * {@link LeaseView}: the one store of what this replica has seen of the Lease and when. The rules
 * ({@link ElectionRules}) count every claim from the times kept here, so each field is pinned.
 */
@DisplayName("LeaseView: what this replica has seen of the Lease, and when")
class LeaseViewTest {

  private static final long S = 1_000_000_000L;
  private static final Instant T = Instant.parse("2026-11-24T00:00:00Z");
  private static final String FOREIGN = "example.com/other-controller";

  private final LeaseView view = new LeaseView(15 * S);

  static Lease lease(long resourceVersion, LeaderElectionRecord record) {
    Lease lease = new LeaseBuilder().withNewMetadata().withName("l").withNamespace("n")
        .withResourceVersion(Long.toString(resourceVersion)).endMetadata()
        .withNewSpec().endSpec().build();
    record.applyTo(lease.getSpec());
    return lease;
  }

  static Lease deleting(Lease lease, String... finalizers) {
    Lease marked = new LeaseBuilder(lease).build();
    marked.getMetadata().setDeletionTimestamp("2026-11-24T00:00:01Z");
    marked.getMetadata().setFinalizers(finalizers.length == 0 ? null : List.of(finalizers));
    return marked;
  }

  static LeaderElectionRecord held(String holder, int durationSeconds, Instant renewed) {
    return new LeaderElectionRecord(holder, durationSeconds, T, renewed, 3);
  }

  @Nested
  @DisplayName("before any answer")
  class Unknown {

    @Test
    @DisplayName("nothing is known, nobody holds it, version 0, and the record is ABSENT")
    void nothingKnown() {
      LeaseView.Snapshot s = view.snapshot();
      assertThat(view.known()).isFalse();
      assertThat(s.known()).isFalse();
      assertThat(s.exists()).isFalse();
      assertThat(s.record()).isEqualTo(LeaderElectionRecord.ABSENT);
      assertThat(view.holder()).isEmpty();
      assertThat(view.version()).isZero();
      assertThat(s.version()).isZero();
      assertThat(s.lastHolderKnown()).isFalse();
    }

    @Test
    @DisplayName("a first answer \"not found\" is news: known, version 1, seen at that moment")
    void firstAnswerNotFound() {
      assertThat(view.observe(null, 7 * S)).isTrue();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(view.known()).isTrue();
      assertThat(s.known()).isTrue();
      assertThat(s.exists()).isFalse();
      assertThat(s.observedAt()).isEqualTo(7 * S);
      assertThat(view.version()).isEqualTo(1);
      assertThat(s.durationNanos()).as("no record: this replica's own duration").isEqualTo(15 * S);
    }

    @Test
    @DisplayName("\"not found\" again changes nothing: false, same version, same time")
    void notFoundAgain() {
      view.observe(null, 7 * S);
      assertThat(view.observe(null, 9 * S)).isFalse();
      assertThat(view.version()).isEqualTo(1);
      assertThat(view.snapshot().observedAt()).isEqualTo(7 * S);
    }
  }

  @Nested
  @DisplayName("a record that changes")
  class Changes {

    @Test
    @DisplayName("a Lease seen for the first time is news, with its record, its time and its holder")
    void firstLease() {
      Lease l = lease(5, held("a", 20, T));
      assertThat(view.observe(l, 3 * S)).isTrue();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.exists()).isTrue();
      assertThat(s.lease()).isSameAs(l);
      assertThat(s.record()).isEqualTo(held("a", 20, T));
      assertThat(view.holder()).isEqualTo("a");
      assertThat(s.observedAt()).isEqualTo(3 * S);
      assertThat(s.durationNanos()).as("the duration the holder wrote").isEqualTo(20 * S);
      assertThat(s.version()).isEqualTo(1);
      assertThat(s.lastHolder()).isEqualTo("a");
      assertThat(s.lastHolderKnown()).isTrue();
      assertThat(s.lastHolderDurationNanos()).isEqualTo(20 * S);
      assertThat(s.lastHolderSeenAt()).isEqualTo(3 * S);
    }

    @Test
    @DisplayName("the same record under a newer resourceVersion is no renewal: false, the times stay")
    void sameRecordIsNoRenewal() {
      view.observe(lease(5, held("a", 20, T)), 3 * S);
      Lease again = lease(6, held("a", 20, T));
      assertThat(view.observe(again, 8 * S)).isFalse();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.observedAt()).isEqualTo(3 * S);
      assertThat(s.lastHolderSeenAt()).isEqualTo(3 * S);
      assertThat(s.version()).isEqualTo(1);
      assertThat(s.lease()).as("the newest object is kept all the same").isSameAs(again);
    }

    @Test
    @DisplayName("a renewal moves the time the record was seen and the holder's last write, and counts a version")
    void renewal() {
      view.observe(lease(5, held("a", 20, T)), 3 * S);
      assertThat(view.observe(lease(6, held("a", 20, T.plusSeconds(2))), 8 * S)).isTrue();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.observedAt()).isEqualTo(8 * S);
      assertThat(s.lastHolderSeenAt()).isEqualTo(8 * S);
      assertThat(s.version()).isEqualTo(2);
    }

    @Test
    @DisplayName("a record without a duration counts with this replica's own, never as expired")
    void missingDuration() {
      view.observe(lease(5, held("a", 0, T)), 0);
      assertThat(view.snapshot().durationNanos()).isEqualTo(15 * S);
      assertThat(view.snapshot().lastHolderDurationNanos()).isEqualTo(15 * S);
    }

    @Test
    @DisplayName("a new holder replaces the last holder, with its own duration")
    void newHolder() {
      view.observe(lease(5, held("a", 20, T)), 3 * S);
      view.observe(lease(6, held("b", 40, T)), 9 * S);
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.lastHolder()).isEqualTo("b");
      assertThat(s.lastHolderDurationNanos()).isEqualTo(40 * S);
      assertThat(s.lastHolderSeenAt()).isEqualTo(9 * S);
    }
  }

  @Nested
  @DisplayName("the last holder's claim")
  class LastHolder {

    @Test
    @DisplayName("survives a delete: the record is ABSENT, the last holder, its duration and its last write stay")
    void survivesDelete() {
      view.observe(lease(5, held("a", 20, T)), 3 * S);
      assertThat(view.observe(null, 6 * S)).isTrue();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.exists()).isFalse();
      assertThat(s.record()).isEqualTo(LeaderElectionRecord.ABSENT);
      assertThat(s.observedAt()).isEqualTo(6 * S);
      assertThat(s.version()).isEqualTo(2);
      assertThat(s.lastHolder()).isEqualTo("a");
      assertThat(s.lastHolderDurationNanos()).isEqualTo(20 * S);
      assertThat(s.lastHolderSeenAt()).isEqualTo(3 * S);
    }

    @Test
    @DisplayName("survives a hand clear (no holder, but not a release)")
    void survivesHandClear() {
      view.observe(lease(5, held("a", 20, T)), 3 * S);
      assertThat(view.observe(lease(6, new LeaderElectionRecord("", 20, T, T, 3)), 6 * S)).isTrue();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.record().isHeld()).isFalse();
      assertThat(s.lastHolder()).isEqualTo("a");
      assertThat(s.lastHolderSeenAt()).isEqualTo(3 * S);
    }

    @Test
    @DisplayName("ends with the holder's own release")
    void endsWithRelease() {
      view.observe(lease(5, held("a", 20, T)), 3 * S);
      assertThat(view.observe(lease(6, LeaderElectionRecord.released(T, 3)), 6 * S)).isTrue();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.lastHolder()).isEmpty();
      assertThat(s.lastHolderKnown()).isFalse();
      assertThat(s.durationNanos()).as("a release's one second").isEqualTo(S);
    }
  }

  @Nested
  @DisplayName("stale events")
  class Stale {

    @Test
    @DisplayName("a Lease older than the one seen (a watch event overtaken by our own write) is ignored")
    void olderIgnored() {
      Lease newer = lease(10, held("me", 15, T.plusSeconds(5)));
      view.observe(newer, 3 * S);
      assertThat(view.observe(lease(9, held("other", 15, T)), 4 * S)).isFalse();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.lease()).isSameAs(newer);
      assertThat(s.record().holderIdentity()).isEqualTo("me");
      assertThat(s.observedAt()).isEqualTo(3 * S);
      assertThat(s.lastHolder()).isEqualTo("me");
      assertThat(s.version()).isEqualTo(1);
    }

    @Test
    @DisplayName("a Lease of the same resourceVersion is not provably older: taken")
    void sameVersionTaken() {
      view.observe(lease(10, held("a", 15, T)), 3 * S);
      assertThat(view.observe(lease(10, held("b", 15, T)), 4 * S)).isTrue();
      assertThat(view.holder()).isEqualTo("b");
    }

    @Test
    @DisplayName("after a delete, any Lease is news, whatever its resourceVersion")
    void afterDelete() {
      view.observe(lease(10, held("a", 15, T)), 3 * S);
      view.observe(null, 4 * S);
      assertThat(view.observe(lease(2, held("b", 15, T)), 5 * S)).isTrue();
      assertThat(view.holder()).isEqualTo("b");
    }

    @Test
    @DisplayName("isOlder compares resourceVersions as numbers, and accepts what does not parse")
    void isOlder() {
      Lease nine = lease(9, held("a", 15, T));
      Lease ten = lease(10, held("a", 15, T));
      assertThat(LeaseView.isOlder(nine, ten)).isTrue();
      assertThat(LeaseView.isOlder(ten, nine)).isFalse();
      assertThat(LeaseView.isOlder(ten, ten)).isFalse();
      Lease opaque = new LeaseBuilder(nine).editMetadata().withResourceVersion("abc").endMetadata()
          .build();
      assertThat(LeaseView.isOlder(opaque, ten)).isFalse();
      assertThat(LeaseView.isOlder(nine, opaque)).isFalse();
      Lease none = new LeaseBuilder(nine).editMetadata().withResourceVersion(null).endMetadata()
          .build();
      assertThat(LeaseView.isOlder(none, ten)).isFalse();
    }
  }

  @Nested
  @DisplayName("deletion state")
  class Deletion {

    @Test
    @DisplayName("being marked for deletion is news but no renewal: version counts, the times stay")
    void markedForDeletion() {
      Lease l = lease(5, held("a", 20, T));
      view.observe(l, 3 * S);
      Lease marked = deleting(lease(6, held("a", 20, T)), LeaseWrites.FINALIZER);
      assertThat(view.observe(marked, 8 * S)).isTrue();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.version()).isEqualTo(2);
      assertThat(s.observedAt()).isEqualTo(3 * S);
      assertThat(s.lastHolderSeenAt()).isEqualTo(3 * S);
      assertThat(s.lease()).isSameAs(marked);
      assertThat(s.deleting()).isTrue();
      assertThat(s.protectedByUs()).isTrue();
      assertThat(s.deletionHeldByOthers()).isFalse();
    }

    @Test
    @DisplayName("a change of the finalizers that hold a Lease being deleted is news; the same state again is not")
    void finalizersWhileDeleting() {
      view.observe(deleting(lease(5, held("a", 20, T)), LeaseWrites.FINALIZER), 3 * S);
      assertThat(view.observe(deleting(lease(6, held("a", 20, T)), LeaseWrites.FINALIZER,
          FOREIGN), 4 * S)).as("ours -> ours and another's").isTrue();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.deletionHeldByOthers()).isTrue();
      assertThat(s.protectedByUs()).isTrue();
      assertThat(view.observe(deleting(lease(7, held("a", 20, T)), FOREIGN), 5 * S))
          .as("-> another's only").isTrue();
      assertThat(view.snapshot().protectedByUs()).isFalse();
      assertThat(view.observe(deleting(lease(8, held("a", 20, T)), FOREIGN), 6 * S))
          .as("the same state again").isFalse();
      assertThat(view.observe(deleting(lease(9, held("a", 20, T)), LeaseWrites.FINALIZER),
          7 * S)).as("another's only -> ours only").isTrue();
      assertThat(view.version()).isEqualTo(4);
      assertThat(view.snapshot().observedAt()).isEqualTo(3 * S);
    }

    @Test
    @DisplayName("finalizers that change on a Lease not being deleted are no news")
    void finalizersWhileNotDeleting() {
      view.observe(lease(5, held("a", 20, T)), 3 * S);
      Lease withFinalizers = lease(6, held("a", 20, T));
      withFinalizers.getMetadata().setFinalizers(List.of(LeaseWrites.FINALIZER, FOREIGN));
      assertThat(view.observe(withFinalizers, 4 * S)).isFalse();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.version()).isEqualTo(1);
      assertThat(s.deleting()).isFalse();
      assertThat(s.deletionHeldByOthers()).as("not being deleted").isFalse();
      assertThat(s.protectedByUs()).isTrue();
    }

    @Test
    @DisplayName("a Lease marked for deletion with a new record is one change, seen as a renewal")
    void markedAndRenewed() {
      view.observe(lease(5, held("a", 20, T)), 3 * S);
      assertThat(view.observe(deleting(lease(6, held("a", 20, T.plusSeconds(2))),
          LeaseWrites.FINALIZER), 8 * S)).isTrue();
      LeaseView.Snapshot s = view.snapshot();
      assertThat(s.version()).isEqualTo(2);
      assertThat(s.observedAt()).isEqualTo(8 * S);
      assertThat(s.lastHolderSeenAt()).isEqualTo(8 * S);
    }
  }
}
