package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;

/** A {@link LeaseView} fed records by hand, as the rules' tests see the Lease. */
final class ViewFeed {

  final LeaseView view;
  private long rv = 1;

  ViewFeed(long defaultDurationNanos) {
    this.view = new LeaseView(defaultDurationNanos);
  }

  /** The Lease holding {@code record} (null: absent) seen at {@code at}, a new version each. */
  void see(LeaderElectionRecord record, long at) {
    if (record == null) {
      view.observe(null, at);
      return;
    }
    Lease lease = new LeaseBuilder().withNewMetadata().withName("l").withNamespace("n")
        .withResourceVersion(Long.toString(rv++)).endMetadata().withNewSpec().endSpec().build();
    record.applyTo(lease.getSpec());
    lease.getSpec().setPreferredHolder(record.preferredHolder().isEmpty() ? null
        : record.preferredHolder());
    view.observe(lease, at);
  }
}
