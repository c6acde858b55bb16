package io.geomesh.client;

import org.apache.kafka.common.KafkaException;

/** A failure of the geomesh client: a switch that could not be made, an agent that refused, a bad secret. */
public class GeomeshException extends KafkaException {
    public GeomeshException(String message) {
        super(message);
    }

    public GeomeshException(String message, Throwable cause) {
        super(message, cause);
    }
}
