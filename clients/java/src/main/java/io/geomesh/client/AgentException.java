package io.geomesh.client;

/** An agent's answer that is not 2xx (Go {@code api.Error}): the HTTP status and the agent's message. */
public class AgentException extends GeomeshException {
    private final int status;

    public AgentException(int status, String message) {
        super(message + " (HTTP " + status + ")");
        this.status = status;
    }

    /** The HTTP status code. */
    public int status() {
        return status;
    }
}
