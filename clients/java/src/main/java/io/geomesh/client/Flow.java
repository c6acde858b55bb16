package io.geomesh.client;

import java.util.List;

/**
 * One directed copy from a source region's cluster to a target region's
 * (Go {@code topology.Flow}), as the topology file plans it.
 *
 * @param source  the source region
 * @param target  the target region
 * @param kind    {@code replicate}, {@code aggregate}, {@code broadcast} or {@code standby}
 * @param topics  the topics it copies (before the loop rules)
 * @param naming  how the copies are named
 * @param regions every region of the mesh: a topic that starts with one of them and a dot is a copy
 */
public record Flow(String source, String target, String kind, Selection topics, Naming naming, List<String> regions) {
    public static final String REPLICATE = "replicate";
    public static final String AGGREGATE = "aggregate";
    public static final String BROADCAST = "broadcast";
    public static final String STANDBY = "standby";

    public Flow {
        regions = List.copyOf(regions);
    }

    /** The name a source topic's copy has in the target cluster. */
    public String targetTopic(String sourceTopic) {
        if (naming == Naming.PREFIX) {
            return source + "." + sourceTopic;
        }
        return sourceTopic;
    }

    /**
     * Whether the flow copies topic: the selection must pick it and the loop rules
     * allow it (Kafka's and geomesh's own topics never travel, nor the target's own
     * data coming back, nor, under prefix naming, another region's copy except to a
     * standby hub).
     */
    public boolean selects(String topic) {
        if (topic.startsWith("__") || topic.startsWith("geomesh.")) {
            return false;
        }
        if (topic.startsWith(target + ".")) {
            return false;
        }
        if (naming == Naming.PREFIX && !kind.equals(STANDBY)) {
            for (String r : regions) {
                if (topic.startsWith(r + ".")) {
                    return false;
                }
            }
        }
        return topics.matches(topic);
    }
}
