package io.geomesh.client;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs the follow decision's shared table, client/testdata/decide.json, which the Go
 * library (client/decide_test.go) and the Python one run too. Unknown keys fail, so a
 * key added for one language cannot be ignored by another unnoticed.
 */
class DecideTableTest {
    static final Path TABLE = Repo.path("client/testdata/decide.json");

    record Table(@JsonProperty("doc") String doc, @JsonProperty("cases") List<Case> cases) {
    }

    record Case(@JsonProperty("name") String name, @JsonProperty("kind") String kind,
                @JsonProperty("client") ClientJson client, @JsonProperty("old") MeshState old,
                @JsonProperty("current") MeshState current, @JsonProperty("want") Want want) {
    }

    record ClientJson(@JsonProperty("producer") boolean producer, @JsonProperty("home") String home,
                      @JsonProperty("writer") boolean writer, @JsonProperty("region") String region,
                      @JsonProperty("paused") boolean paused) {
    }

    record Want(@JsonProperty("pause") boolean pause, @JsonProperty("switch_to") String switchTo,
                @JsonProperty("resume") boolean resume) {
    }

    static final ObjectMapper STRICT = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    static Table read() throws IOException {
        return STRICT.readValue(Files.readAllBytes(TABLE), Table.class);
    }

    @TestFactory
    List<DynamicTest> decideTable() throws IOException {
        Table table = read();
        assertTrue(table.cases().size() >= 30, table.cases().size() + " cases in " + TABLE + ", want at least 30");
        Map<Kind, Integer> kinds = new EnumMap<>(Kind.class);
        List<DynamicTest> tests = new ArrayList<>();
        for (Case tc : table.cases()) {
            Kind kind = Kind.parse(tc.kind());
            kinds.merge(kind, 1, Integer::sum);
            tests.add(DynamicTest.dynamicTest(tc.name(), () -> {
                FollowDecision.Client c = new FollowDecision.Client(tc.client().producer(), tc.client().home(),
                        tc.client().writer(), tc.client().region(), tc.client().paused());
                FollowDecision.Move want = new FollowDecision.Move(tc.want().pause(), tc.want().switchTo(), tc.want().resume());
                assertEquals(want, FollowDecision.decide(kind, c, tc.old(), tc.current()), tc.name());
            }));
        }
        for (Kind k : Kind.values()) {
            assertTrue(kinds.getOrDefault(k, 0) >= 5, kinds.getOrDefault(k, 0) + " cases of " + k + ", want at least 5");
        }
        return tests;
    }

    /** The table has as many cases as the Go test runs; printed so that the build log shows it. */
    @Test
    void tableSize() throws IOException {
        int n = read().cases().size();
        System.out.println("decide.json: " + n + " cases");
        assertTrue(n >= 30);
    }

    /** A key no language knows fails the read, at any depth. */
    @Test
    void unknownKeysFail() {
        String state = "{\"epoch\":1,\"decision\":\"init\",\"regions\":{\"east\":{\"role\":\"primary\",\"colour\":\"red\"}}}";
        String tc = "{\"name\":\"x\",\"kind\":\"active-passive\",\"client\":{\"producer\":true,\"home\":\"east\",\"writer\":true,"
                + "\"region\":\"east\",\"paused\":false},\"old\":null,\"current\":" + state
                + ",\"want\":{\"pause\":false,\"switch_to\":\"\",\"resume\":false}}";
        assertThrows(IOException.class, () -> STRICT.readValue("{\"doc\":\"\",\"cases\":[" + tc + "]}", Table.class));
        assertThrows(IOException.class, () -> STRICT.readValue("{\"doc\":\"\",\"extra\":1,\"cases\":[]}", Table.class));
        assertThrows(IOException.class, () -> STRICT.readValue("{\"doc\":\"\",\"cases\":[" + tc.replace("\"paused\":false}", "\"paused\":false,\"lag\":3}") + "]}",
                Table.class));
    }
}
