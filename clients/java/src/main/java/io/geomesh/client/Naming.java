package io.geomesh.client;

/** The name a replicated topic gets in the target cluster. */
public enum Naming {
    /** {@code <source-region>.<topic>}. Default for active-active and hub-spoke. */
    PREFIX("prefix"),
    /** The same name everywhere. Default for active-passive. */
    IDENTITY("identity");

    private final String wire;

    Naming(String wire) {
        this.wire = wire;
    }

    public String wire() {
        return wire;
    }

    public static Naming parse(String name) {
        for (Naming n : values()) {
            if (n.wire.equals(name)) {
                return n;
            }
        }
        throw new IllegalArgumentException("unknown naming \"" + name + "\" (prefix or identity)");
    }

    @Override
    public String toString() {
        return wire;
    }
}
