package io.geomesh.client;

/**
 * The follow decision, a port of the Go client's {@code decide} (client/decide.go):
 * pure functions of what a client is and the mesh states it follows. The shared
 * table client/testdata/decide.json pins it for the Go, Java and Python libraries.
 */
public final class FollowDecision {
    private FollowDecision() {
    }

    /**
     * What the decision knows of one client.
     *
     * @param producer whether it is a producer
     * @param home     the region it started in: in an active-active mesh the clients of
     *                 home move together when it is evacuated
     * @param writer   it follows the writer region of an active-passive or hub-spoke mesh
     *                 (see {@link #followsWriter}); a consumer started in a standby or a
     *                 spoke stays there
     * @param region   where it is now
     * @param paused   whether it is paused
     */
    public record Client(boolean producer, String home, boolean writer, String region, boolean paused) {
        public Client {
            home = MeshState.nz(home);
            region = MeshState.nz(region);
        }
    }

    /**
     * What a client does on a new mesh state, in this order: pause, then switch to
     * {@code switchTo} (empty: stay), then resume, so that no record reaches a region
     * the mesh no longer writes to.
     */
    public record Move(boolean pause, String switchTo, boolean resume) {
        public static final Move NONE = new Move(false, "", false);

        public Move {
            switchTo = MeshState.nz(switchTo);
        }

        /** Whether the move does nothing. */
        public boolean isNone() {
            return !pause && switchTo.isEmpty() && !resume;
        }
    }

    /**
     * What client c does when the mesh state it follows goes from old (null before
     * the first) to cur. It compares levels, not edges: where cur wants the client and
     * whether it wants it paused, so that states skipped between two reads (a whole
     * planned switch, say) still land the client where it belongs. A state older than
     * old changes nothing: an agent that has not seen the latest decision yet.
     */
    public static Move decide(Kind kind, Client c, MeshState old, MeshState cur) {
        if (cur == null || (old != null && cur.epoch() < old.epoch())) {
            return Move.NONE;
        }
        String switchTo = "";
        String to = wantRegion(kind, c, cur);
        if (!to.isEmpty() && !to.equals(c.region())) {
            switchTo = to;
        }
        boolean pause = wantPaused(kind, c, cur);
        return new Move(pause && !c.paused(), switchTo, !pause && c.paused());
    }

    /** Where cur wants the client, "" to stay. */
    static String wantRegion(Kind kind, Client c, MeshState cur) {
        if (kind == Kind.ACTIVE_ACTIVE) {
            MeshState.RegionState rs = cur.regions().get(c.home());
            String role = rs == null ? "" : rs.role();
            if (role.equals(MeshState.ROLE_ACTIVE)) {
                return c.home();
            }
            if (role.equals(MeshState.ROLE_EVACUATED)) {
                return rs.clientsTo();
            }
            return "";
        }
        if (!c.writer()) {
            return "";
        }
        // None, or a state no decision makes: stay put.
        return cur.soleWriter(kind);
    }

    /** Whether cur wants the client paused: a planned switch moves the writes of its region. */
    static boolean wantPaused(Kind kind, Client c, MeshState cur) {
        MeshState.Switch sw = cur.sw();
        if (!c.producer() || sw == null || !sw.from().equals(c.region())) {
            return false;
        }
        if (kind == Kind.ACTIVE_ACTIVE) {
            return sw.clients().equals(c.home());
        }
        return c.writer();
    }

    /**
     * Whether a client that started in home follows the writer region of a mesh:
     * every producer of an active-passive mesh and any client started on its
     * primary; in a hub-spoke mesh the clients started on the hub.
     */
    public static boolean followsWriter(GeomeshMesh m, boolean producer, String home) {
        switch (m.kind()) {
            case ACTIVE_PASSIVE:
                return producer || home.equals(m.primary());
            case HUB_SPOKE:
                return home.equals(m.hub());
            default:
                return false;
        }
    }
}
