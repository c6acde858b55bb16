package io.geomesh.client;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/** What a consumer's switch asks of a region's cluster about its group: an interface so that tests need no Kafka. */
interface GroupAdmin extends AutoCloseable {
    /** Whether the group has no member in the region (Empty, Dead, or no such group). */
    boolean idle(String group, Duration timeout) throws Exception;

    /** The group's committed offsets in the region; empty when it has none. */
    Map<TopicPartition, Long> committed(String group, Duration timeout) throws Exception;

    /** Commits offsets for the group as an admin (refused while the group has members). */
    void commit(String group, Map<TopicPartition, Long> offsets, Duration timeout) throws Exception;

    @Override
    void close();

    /** The kafka-clients Admin implementation. */
    final class Kafka implements GroupAdmin {
        private final Admin admin;

        Kafka(Map<String, Object> props) {
            this.admin = Admin.create(props);
        }

        @Override
        public boolean idle(String group, Duration timeout) throws Exception {
            try {
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).describedGroups().get(group)
                        .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                GroupState s = d.groupState();
                if (s == GroupState.EMPTY || s == GroupState.DEAD) {
                    return true;
                }
                throw new GeomeshException("group " + group + " is " + s + ": other members still consume there");
            } catch (ExecutionException e) {
                if (e.getCause() instanceof GroupIdNotFoundException) {
                    return true;
                }
                throw unwrap(e);
            }
        }

        @Override
        public Map<TopicPartition, Long> committed(String group, Duration timeout) throws Exception {
            Map<TopicPartition, OffsetAndMetadata> got;
            try {
                got = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                        .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof GroupIdNotFoundException) {
                    return Map.of(); // nothing committed there yet
                }
                throw unwrap(e);
            }
            Map<TopicPartition, Long> out = new HashMap<>();
            got.forEach((tp, om) -> {
                if (om != null) {
                    out.put(tp, om.offset());
                }
            });
            return out;
        }

        @Override
        public void commit(String group, Map<TopicPartition, Long> offsets, Duration timeout) throws Exception {
            Map<TopicPartition, OffsetAndMetadata> m = new HashMap<>();
            offsets.forEach((tp, at) -> m.put(tp, new OffsetAndMetadata(at)));
            try {
                admin.alterConsumerGroupOffsets(group, m).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                throw unwrap(e);
            }
        }

        @Override
        public void close() {
            admin.close(Duration.ofSeconds(1));
        }

        private static Exception unwrap(ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof Exception) {
                return (Exception) c;
            }
            return e;
        }
    }
}
