package io.geomesh.client;

import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

import java.nio.charset.StandardCharsets;

/**
 * The provenance headers the mirror engine writes on every copy: a wire contract
 * between geomesh versions (Go client/headers.go), and where a copy came from.
 *
 * @param region    the region the record was first written in
 * @param topic     its topic there
 * @param partition its partition there
 * @param offset    its offset there
 */
public record Provenance(String region, String topic, int partition, long offset) {
    public static final String HEADER_ORIGIN_REGION = "geomesh-origin-region";
    public static final String HEADER_ORIGIN_TOPIC = "geomesh-origin-topic";
    public static final String HEADER_ORIGIN_PARTITION = "geomesh-origin-partition";
    public static final String HEADER_ORIGIN_OFFSET = "geomesh-origin-offset";
    public static final String HEADER_VISITED = "geomesh-visited";
    /**
     * The header an application sets, to any unique bytes, on records it may write
     * twice; the producer's recordIds option sets it.
     */
    public static final String HEADER_RECORD_ID = "geomesh-record-id";

    /** The provenance a copy carries; null for a record produced where it is (or malformed headers). */
    public static Provenance of(Headers hs) {
        String region = header(hs, HEADER_ORIGIN_REGION);
        String topic = header(hs, HEADER_ORIGIN_TOPIC);
        String part = header(hs, HEADER_ORIGIN_PARTITION);
        String off = header(hs, HEADER_ORIGIN_OFFSET);
        if (region == null || topic == null || part == null || off == null) {
            return null;
        }
        try {
            return new Provenance(region, topic, Integer.parseInt(part), Long.parseLong(off));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** The value of the first header named key, as UTF-8, or null (Go's header takes the first too). */
    static String header(Headers hs, String key) {
        if (hs == null) {
            return null;
        }
        for (Header h : hs) {
            if (h.key().equals(key)) {
                return h.value() == null ? "" : new String(h.value(), StandardCharsets.UTF_8);
            }
        }
        return null;
    }
}
