package io.geomesh.client;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * The parts of an agent's {@code GET /v1/failover} answer (Go
 * {@code api.FailoverStatus}) a client needs; the rest (views, flows, events, ...)
 * is ignored.
 *
 * @param mesh         the mesh's name
 * @param region       the agent's region
 * @param agent        the agent's id
 * @param controlPlane {@code reachable}, {@code unreachable}, {@code connecting} or {@code stopped}
 * @param state        the mesh state the agent holds, null before it has read one
 * @param role         the agent's region's role
 * @param epoch        the epoch the agent acts on
 * @param fenced       whether the agent's region fenced itself
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record FailoverStatus(
        @JsonProperty("mesh") String mesh,
        @JsonProperty("region") String region,
        @JsonProperty("agent") String agent,
        @JsonProperty("control_plane") String controlPlane,
        @JsonProperty("state") MeshState state,
        @JsonProperty("role") String role,
        @JsonProperty("epoch") long epoch,
        @JsonProperty("fenced") boolean fenced) {

    public static final String CONTROL_REACHABLE = "reachable";

    public FailoverStatus {
        mesh = MeshState.nz(mesh);
        region = MeshState.nz(region);
        agent = MeshState.nz(agent);
        controlPlane = MeshState.nz(controlPlane);
        role = MeshState.nz(role);
    }
}
