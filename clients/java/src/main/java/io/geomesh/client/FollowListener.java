package io.geomesh.client;

/**
 * Receives every transition a {@link Follower} sees or makes, from one thread at a
 * time. It should return quickly: the client it reports on waits.
 */
@FunctionalInterface
public interface FollowListener {
    void onEvent(FollowEvent event);
}
