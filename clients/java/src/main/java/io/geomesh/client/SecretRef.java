package io.geomesh.client;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * A reference to a secret kept outside the topology file (Go
 * {@code topology.Secret}): {@code env:NAME} reads an environment variable,
 * {@code file:/path} a file. It is resolved each time it is used, so a rotated
 * token file takes effect at once. {@link #toString()} shows the reference, never
 * the value, and hides a malformed reference, which is most often a pasted secret.
 */
public final class SecretRef {
    private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    private final String ref;
    private final Function<String, String> env;

    private SecretRef(String ref, Function<String, String> env) {
        this.ref = ref;
        this.env = env;
    }

    /** The reference {@code env:NAME} or {@code file:/path}; throws IllegalArgumentException otherwise. */
    public static SecretRef of(String ref) {
        return of(ref, System::getenv);
    }

    /** As {@link #of(String)}, with environment variables read from env (for tests). */
    static SecretRef of(String ref, Map<String, String> env) {
        return of(ref, env::get);
    }

    private static SecretRef of(String ref, Function<String, String> env) {
        String problem = check(ref);
        if (problem != null) {
            throw new IllegalArgumentException("secret [redacted]: " + problem);
        }
        return new SecretRef(ref, env);
    }

    private static String check(String ref) {
        if (ref == null) {
            return "no reference";
        }
        if (ref.startsWith("env:")) {
            if (!ENV_NAME.matcher(ref.substring(4)).matches()) {
                return "env: needs an environment variable name of letters, digits and '_'";
            }
            return null;
        }
        if (ref.startsWith("file:")) {
            if (ref.length() == 5) {
                return "file: needs a path";
            }
            return null;
        }
        return "must be a reference to a secret, not the secret itself: write env:VARIABLE or file:/path/to/secret and keep the value there";
    }

    /** The reference itself. */
    public String ref() {
        return ref;
    }

    /** Reads the secret; a trailing newline of a file is not part of it. */
    public String resolve() {
        if (ref.startsWith("env:")) {
            String name = ref.substring(4);
            String v = env.apply(name);
            if (v == null) {
                throw new GeomeshException("secret " + ref + ": environment variable " + name + " is not set");
            }
            return v;
        }
        Path path = Path.of(ref.substring(5));
        try {
            String s = Files.readString(path, StandardCharsets.UTF_8);
            int end = s.length();
            while (end > 0 && (s.charAt(end - 1) == '\n' || s.charAt(end - 1) == '\r')) {
                end--;
            }
            return s.substring(0, end);
        } catch (NoSuchFileException e) {
            throw new GeomeshException("secret " + ref + ": no such file", e);
        } catch (IOException e) {
            throw new GeomeshException("secret " + ref + ": " + e, e);
        }
    }

    @Override
    public String toString() {
        return ref;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SecretRef && ((SecretRef) o).ref.equals(ref);
    }

    @Override
    public int hashCode() {
        return ref.hashCode();
    }
}
