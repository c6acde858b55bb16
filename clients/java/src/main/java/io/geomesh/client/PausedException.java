package io.geomesh.client;

/**
 * A record whose wait ended while a Follower held its producer paused for a planned
 * switch (Go {@code client.ErrPaused}). Nothing was sent; the application may send
 * it again.
 */
public class PausedException extends GeomeshException {
    public PausedException(String message) {
        super(message);
    }
}
