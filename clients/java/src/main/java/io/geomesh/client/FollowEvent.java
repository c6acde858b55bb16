package io.geomesh.client;

import java.time.Duration;

/**
 * One transition of a followed client, or a new epoch (Go {@code client.FollowEvent}).
 *
 * @param kind     what happened
 * @param client   the client ("producer", "consumer group billing"); empty for {@link Kind#EPOCH}
 * @param epoch    the mesh epoch of the state that caused the event
 * @param decision that state's decision ({@code switchover-started}, {@code switchover},
 *                 {@code failover}, ...)
 * @param reason   why the decision was made
 * @param from     the region a switch left; the region of a pause or resume
 * @param to       the region a switch went to
 * @param took     how long the pause, switch or resume took
 * @param error    why a pause or switch failed ({@link Kind#FAILED}), else null
 */
public record FollowEvent(Kind kind, String client, long epoch, String decision, String reason,
                          String from, String to, Duration took, Throwable error) {

    /** What a FollowEvent reports. */
    public enum Kind {
        /** The follower read a state at a new epoch. */
        EPOCH,
        /** A planned switch started; the producer holds its records until it completes or aborts. */
        PAUSED,
        /** The client moved to another region. */
        SWITCHED,
        /** The producer writes again. */
        RESUMED,
        /** A pause or switch failed; it is retried on every read while the state still asks for it. */
        FAILED
    }

    public FollowEvent {
        client = MeshState.nz(client);
        decision = MeshState.nz(decision);
        reason = MeshState.nz(reason);
        from = MeshState.nz(from);
        to = MeshState.nz(to);
        took = took == null ? Duration.ZERO : took;
    }
}
