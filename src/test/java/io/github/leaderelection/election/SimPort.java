package io.github.leaderelection.election;

import java.util.HashMap;
import java.util.Map;

/**
 * The network between one replica and the API server: each request travels up, is carried out when
 * it reaches the server (or waits there while the server is frozen), and its answer travels down.
 * In the fault phase a request may be lost on the way (hung: never answered), its answer may stall
 * after the write was applied, arrive seconds late, or the request itself may reach the server
 * late, after its sender gave up on it. A partitioned replica's requests fail with "no response"
 * (code 0) or hang.
 */
final class SimPort implements Campaign.Port {

  /** What happens to one request, decided when it is sent. */
  enum Fault { NONE, HUNG, STALLED_BODY, LATE_ANSWER, LATE_ARRIVAL }

  /** A request on the wire. Looked up by id only, never iterated. */
  private static final class Flight {
    boolean arrived;
    boolean abandoned;
    boolean cancelled;
    boolean answerRacesCancel;
  }

  private final SimWorld world;
  private final SimReplica replica;
  private final Map<Long, Flight> flights = new HashMap<>();

  SimPort(SimWorld world, SimReplica replica) {
    this.world = world;
    this.replica = replica;
  }

  @Override
  public void send(Campaign.Request request) {
    Flight flight = new Flight();
    flights.put(request.id(), flight);
    world.trace(replica, "send " + request.purpose() + " #" + request.id());
    if (replica.partitioned()) {
      if (replica.partitionHangs()) {
        return; // the connection hangs: only the request's own deadline ends it
      }
      long delay = world.uniform(1_000_000L, 2_000_000_000L);
      world.scheduler().after(delay, () -> answer(request, flight, Campaign.Reply.failed(
          SimApiServer.failure(request.verb(), 0, "", "Connection refused (partitioned)"))));
      return;
    }
    Fault fault = world.requestFault();
    if (fault == Fault.HUNG) {
      return;
    }
    long up = fault == Fault.LATE_ARRIVAL
        ? world.uniform(1_000_000_000L, world.config("-").requestTimeout().toNanos() + 2_000_000_000L)
        : world.latency();
    world.scheduler().after(up, () -> arrive(request, flight, fault));
  }

  private void arrive(Campaign.Request request, Flight flight, Fault fault) {
    if (flight.cancelled) {
      flights.remove(request.id());
      return;
    }
    SimApiServer server = world.server();
    if (server.frozenUntil() > world.now()) {
      world.scheduler().at(server.frozenUntil(), () -> arrive(request, flight, fault));
      return;
    }
    flight.arrived = true;
    Campaign.Reply reply = server.handle(request, world.now());
    world.trace(replica, "server " + request.purpose() + " #" + request.id() + " -> "
        + (reply.failure() == null ? "ok " + SimReplica.describe(reply.lease())
            : ((LeaseApiException) reply.failure()).code()));
    if (fault == Fault.STALLED_BODY) {
      return; // headers sent, the body never comes: applied, never answered
    }
    long down = fault == Fault.LATE_ANSWER ? world.uniform(1_000_000_000L, 8_000_000_000L)
        : world.latency();
    world.scheduler().after(down, () -> answer(request, flight, reply));
  }

  private void answer(Campaign.Request request, Flight flight, Campaign.Reply reply) {
    flights.remove(request.id());
    if (flight.abandoned && !flight.answerRacesCancel) {
      return;
    }
    replica.deliver(() -> {
      world.trace(replica, "answer #" + request.id()
          + (reply.failure() == null ? " ok" : " failed"));
      replica.campaign().completed(request, reply);
    });
  }

  @Override
  public void wake() {
    replica.wake();
  }

  /**
   * Best effort, as in the real runtime: a request not yet on the server may still get there, and
   * an answer already on its way may still be delivered (then it counts as late).
   */
  @Override
  public void abandon(Campaign.Request request) {
    Flight flight = flights.get(request.id());
    if (flight == null) {
      return;
    }
    world.trace(replica, "abandon #" + request.id());
    flight.abandoned = true;
    if (!flight.arrived) {
      flight.cancelled = world.random().nextBoolean();
    }
    flight.answerRacesCancel = world.random().nextDouble() < 0.3;
  }
}
