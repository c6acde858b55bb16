package io.geomesh.client;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.List;

/**
 * The answer of an agent's {@code GET /v1/translate?group=G&from=R} (Go
 * {@code api.TranslateResponse}): group G's committed offsets in region R,
 * translated into the agent's region.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record TranslateResponse(
        @JsonProperty("group") String group,
        @JsonProperty("from") String from,
        @JsonProperty("to") String to,
        @JsonProperty("partitions") List<Translation> partitions) {

    public static final String COPIED = "copied";
    public static final String END = "end";
    public static final String BEHIND = "behind";
    public static final String TRUNCATED = "truncated";

    public TranslateResponse {
        group = MeshState.nz(group);
        from = MeshState.nz(from);
        to = MeshState.nz(to);
        partitions = partitions == null ? List.of() : List.copyOf(partitions);
    }

    /**
     * One partition translated. {@code state} is empty and {@code error} set when the
     * partition could not be translated; {@code targetOffset} and {@code originOffset}
     * are -1 where there is none.
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Translation(
            @JsonProperty("topic") String topic,
            @JsonProperty("partition") int partition,
            @JsonProperty("source_offset") long sourceOffset,
            @JsonProperty("target_topic") String targetTopic,
            @JsonProperty("target_offset") long targetOffset,
            @JsonProperty("state") String state,
            @JsonProperty("origin_offset") long originOffset,
            @JsonProperty("error") String error) {
        public Translation {
            topic = MeshState.nz(topic);
            targetTopic = MeshState.nz(targetTopic);
            state = MeshState.nz(state);
            error = MeshState.nz(error);
        }
    }
}
