package io.geomesh.client;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The mesh state kept in the control plane (Go {@code api.State}): one value,
 * each change one epoch higher. It is {@code state} in the answer of an agent's
 * {@code GET /v1/failover}. Absent strings are empty, never null.
 *
 * @param epoch    increases by one with every decision
 * @param regions  role of every region, by region name
 * @param sw       the planned switch in progress ({@code switch}), or null
 * @param decision the decision that produced this state ({@code init}, {@code failover},
 *                 {@code evacuate}, {@code switchover-started}, {@code switchover},
 *                 {@code switchover-aborted}, {@code rejoin})
 * @param from     the decision's region losing the role
 * @param to       the decision's region gaining it
 * @param reason   why the decision was made
 * @param time     when, RFC 3339
 */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public record MeshState(
        @JsonProperty("epoch") long epoch,
        @JsonProperty("regions") Map<String, RegionState> regions,
        @JsonProperty("switch") Switch sw,
        @JsonProperty("decision") String decision,
        @JsonProperty("from") String from,
        @JsonProperty("to") String to,
        @JsonProperty("reason") String reason,
        @JsonProperty("time") String time) {

    public static final String ROLE_PRIMARY = "primary";
    public static final String ROLE_STANDBY = "standby";
    public static final String ROLE_FENCED = "fenced";
    public static final String ROLE_ACTIVE = "active";
    public static final String ROLE_EVACUATED = "evacuated";
    public static final String ROLE_HUB = "hub";
    public static final String ROLE_STANDBY_HUB = "standby-hub";
    public static final String ROLE_SPOKE = "spoke";
    public static final String ROLE_WITNESS = "witness";

    public static final String DECISION_INIT = "init";
    public static final String DECISION_FAILOVER = "failover";
    public static final String DECISION_EVACUATE = "evacuate";
    public static final String DECISION_SWITCH_START = "switchover-started";
    public static final String DECISION_SWITCHOVER = "switchover";
    public static final String DECISION_SWITCH_ABORT = "switchover-aborted";
    public static final String DECISION_REJOIN = "rejoin";

    public MeshState {
        regions = regions == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(regions));
        decision = nz(decision);
        from = nz(from);
        to = nz(to);
        reason = nz(reason);
        time = nz(time);
    }

    /**
     * One region's entry.
     *
     * @param role      its role at this epoch
     * @param clientsTo for an evacuated active-active region, the region serving its clients
     */
    @JsonInclude(JsonInclude.Include.NON_EMPTY)
    public record RegionState(@JsonProperty("role") String role, @JsonProperty("clients_to") String clientsTo) {
        public RegionState {
            role = nz(role);
            clientsTo = nz(clientsTo);
        }
    }

    /**
     * A planned move of writes in progress: the producers of {@code clients} (the
     * clients whose home is that region) writing to {@code from} pause until
     * replication has drained, then the epoch flips and they write to {@code to}.
     */
    @JsonInclude(JsonInclude.Include.NON_EMPTY)
    public record Switch(@JsonProperty("from") String from, @JsonProperty("to") String to,
                         @JsonProperty("clients") String clients, @JsonProperty("started") String started) {
        public Switch {
            from = nz(from);
            to = nz(to);
            clients = nz(clients);
            started = nz(started);
        }
    }

    /** The role of region, "" if it is not in the state. */
    public String role(String region) {
        RegionState rs = regions.get(region);
        return rs == null ? "" : rs.role();
    }

    /** The regions this state lets take writes in a mesh of kind k, sorted (api.State.Writers). */
    public List<String> writers(Kind k) {
        String w = k.writerRole();
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, RegionState> e : regions.entrySet()) {
            if (e.getValue().role().equals(w)) {
                out.add(e.getKey());
            }
        }
        Collections.sort(out);
        return out;
    }

    /**
     * The region holding the one writer role of an active-passive or hub-spoke mesh
     * (the primary or the hub); "" if nobody holds it alone, or in an active-active
     * mesh (api.State.SoleWriter).
     */
    public String soleWriter(Kind k) {
        List<String> ws = writers(k);
        if (k.singleWriter() && ws.size() == 1) {
            return ws.get(0);
        }
        return "";
    }

    static String nz(String s) {
        return s == null ? "" : s;
    }
}
