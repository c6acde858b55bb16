package io.geomesh.client;

/**
 * A record the producer will not write because its region does not take writes for
 * the topic: a standby, or a topic that is another region's copy there (Go
 * {@code client.ErrNotPrimary}).
 */
public class NotPrimaryException extends GeomeshException {
    public NotPrimaryException(String message) {
        super(message);
    }
}
