package io.geomesh.client;

import com.fasterxml.jackson.annotation.JsonProperty;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs the keyed view's shared table, client/testdata/view.json, which the Go library
 * (client/view_test.go) and the Python one run too. Unknown keys fail.
 */
class KeyedViewTableTest {
    static final Path TABLE = Repo.path("client/testdata/view.json");

    record Table(@JsonProperty("doc") String doc, @JsonProperty("regions") List<String> regions,
                 @JsonProperty("cases") List<Case> cases, @JsonProperty("errors") List<ErrorCase> errors) {
    }

    record Rec(@JsonProperty("key") String key, @JsonProperty("value") String value,
               @JsonProperty("timestamp_ms") long timestampMs, @JsonProperty("partition") int partition,
               @JsonProperty("offset") long offset, @JsonProperty("headers") Map<String, String> headers) {
        ConsumerRecord<String, String> consumerRecord() {
            RecordHeaders hs = new RecordHeaders();
            new TreeMap<>(headers).forEach((k, v) -> hs.add(k, v.getBytes(StandardCharsets.UTF_8)));
            return new ConsumerRecord<>("t", partition, offset, timestampMs, TimestampType.CREATE_TIME, -1, -1, key, value,
                    hs, Optional.empty());
        }
    }

    record Step(@JsonProperty("record") Rec record, @JsonProperty("want") String want) {
    }

    record Want(@JsonProperty("value") String value, @JsonProperty("region") String region,
                @JsonProperty("partition") int partition, @JsonProperty("offset") long offset) {
    }

    record Case(@JsonProperty("name") String name, @JsonProperty("reader") String reader,
                @JsonProperty("region_order") List<String> regionOrder, @JsonProperty("dedupe_window") Integer dedupeWindow,
                @JsonProperty("steps") List<Step> steps, @JsonProperty("want_keys") Map<String, Want> wantKeys,
                @JsonProperty("want_len") int wantLen) {
    }

    record ErrorCase(@JsonProperty("name") String name, @JsonProperty("reader") String reader,
                     @JsonProperty("record") Rec record, @JsonProperty("error") String error) {
    }

    static GeomeshMesh mesh(List<String> regions) {
        GeomeshMesh.Builder b = GeomeshMesh.builder("v", Kind.ACTIVE_ACTIVE);
        for (String r : regions) {
            b.region(r, r + "-kafka:9092", r + "-agent:8080");
        }
        return b.witness("w", "w-agent:8080").build();
    }

    @TestFactory
    List<DynamicTest> viewTable() throws IOException {
        Table table = DecideTableTest.STRICT.readValue(Files.readAllBytes(TABLE), Table.class);
        assertTrue(table.cases().size() >= 15 && table.errors().size() >= 2, "too few cases in " + TABLE);
        GeomeshMesh mesh = mesh(table.regions());
        List<DynamicTest> tests = new ArrayList<>();
        for (Case c : table.cases()) {
            tests.add(DynamicTest.dynamicTest(c.name(), () -> {
                KeyedView.Builder<String, String> b = KeyedView.builder(mesh, c.reader());
                if (c.regionOrder() != null) {
                    b.regionOrder(c.regionOrder());
                }
                if (c.dedupeWindow() != null) {
                    b.dedupeWindow(c.dedupeWindow());
                }
                KeyedView<String, String> v = b.build();
                for (int i = 0; i < c.steps().size(); i++) {
                    Step s = c.steps().get(i);
                    assertEquals(s.want(), v.apply(s.record().consumerRecord()).name().toLowerCase(), "step " + i);
                }
                c.wantKeys().forEach((key, want) -> {
                    KeyedView.Version<String, String> got = v.get(key);
                    if (want == null) {
                        assertNull(got, "key " + key);
                        return;
                    }
                    assertEquals(want, new Want(got.value(), got.region(), got.partition(), got.offset()), "key " + key);
                });
                assertEquals(c.wantLen(), v.size(), "size");
            }));
        }
        for (ErrorCase e : table.errors()) {
            tests.add(DynamicTest.dynamicTest(e.name(), () -> {
                KeyedView<String, String> v = KeyedView.of(mesh, e.reader());
                GeomeshException err = assertThrows(GeomeshException.class, () -> v.apply(e.record().consumerRecord()));
                assertTrue(err.getMessage().contains(e.error()), err.getMessage());
            }));
        }
        return tests;
    }

    @Test
    void refusals() {
        GeomeshMesh mesh = mesh(List.of("us", "eu"));
        assertThrows(IllegalArgumentException.class, () -> KeyedView.of(mesh, "w"), "a witness has no records");
        assertThrows(IllegalArgumentException.class, () -> KeyedView.builder(mesh, "us").dedupeWindow(-1));
    }
}
