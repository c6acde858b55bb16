package io.geomesh.client;

/** The shape of a mesh: which regions take writes and where records flow. */
public enum Kind {
    /** One primary takes writes; standbys hold identical copies. */
    ACTIVE_PASSIVE("active-passive"),
    /** Every data region takes writes and gets the others' topics. */
    ACTIVE_ACTIVE("active-active"),
    /** Spokes feed a hub; the hub broadcasts chosen topics back. */
    HUB_SPOKE("hub-spoke");

    private final String wire;

    Kind(String wire) {
        this.wire = wire;
    }

    /** The name in the topology file and the agents' API ("active-passive", ...). */
    public String wire() {
        return wire;
    }

    /** The kind named {@code name} as in the topology file. */
    public static Kind parse(String name) {
        for (Kind k : values()) {
            if (k.wire.equals(name)) {
                return k;
            }
        }
        throw new IllegalArgumentException("unknown topology kind \"" + name + "\" (active-passive, active-active or hub-spoke)");
    }

    /** The role that takes the writes a quorum hands between regions (api.WriterRole). */
    String writerRole() {
        switch (this) {
            case ACTIVE_PASSIVE:
                return MeshState.ROLE_PRIMARY;
            case HUB_SPOKE:
                return MeshState.ROLE_HUB;
            default:
                return MeshState.ROLE_ACTIVE;
        }
    }

    /** Whether the kind allows one writer at a time (api.SingleWriter). */
    boolean singleWriter() {
        return this == ACTIVE_PASSIVE || this == HUB_SPOKE;
    }

    @Override
    public String toString() {
        return wire;
    }
}
