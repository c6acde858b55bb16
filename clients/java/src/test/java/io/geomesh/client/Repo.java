package io.geomesh.client;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;

/** Where the tests find the repository's shared files, and addresses for tests. */
final class Repo {
    private Repo() {
    }

    /** A file of the geomesh repository, by its path from the repository's root. */
    static Path path(String rel) {
        return Path.of(System.getProperty("geomesh.repo", "../..")).resolve(rel).normalize();
    }

    /** A loopback address that refuses connections: a port bound and closed again. */
    static String refusedAddr() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return "127.0.0.1:" + s.getLocalPort();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
