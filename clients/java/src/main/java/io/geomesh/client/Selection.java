package io.geomesh.client;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Picks topics by name, as the topology file's {@code topics} (Go
 * {@code topology.Selection}): patterns are regular expressions that must match
 * the whole name; a name is selected when an include pattern matches it and no
 * exclude pattern does; an empty include selects nothing.
 *
 * <p>The patterns are compiled with {@link java.util.regex.Pattern}, the agents'
 * with Go's RE2. The two agree on the usual syntax (literals, {@code .}, classes,
 * {@code *}, {@code +}, {@code ?}, alternation, groups, escapes); Java-only
 * constructs (look-around, back-references) would mean something different to the
 * agents, so keep to the common subset.
 */
public final class Selection {
    private final List<String> include;
    private final List<String> exclude;
    private final List<Pattern> inc;
    private final List<Pattern> exc;

    private Selection(List<String> include, List<String> exclude) {
        this.include = List.copyOf(include);
        this.exclude = List.copyOf(exclude);
        this.inc = compile("include", this.include);
        this.exc = compile("exclude", this.exclude);
    }

    /** A selection of include and exclude patterns; throws IllegalArgumentException on a bad one. */
    public static Selection of(List<String> include, List<String> exclude) {
        return new Selection(include == null ? List.of() : include, exclude == null ? List.of() : exclude);
    }

    /** Every name. */
    public static Selection all() {
        return of(List.of(".*"), List.of());
    }

    /** Nothing. */
    public static Selection none() {
        return of(List.of(), List.of());
    }

    public List<String> include() {
        return include;
    }

    public List<String> exclude() {
        return exclude;
    }

    /** Whether the selection picks name. */
    public boolean matches(String name) {
        return any(inc, name) && !any(exc, name);
    }

    private static boolean any(List<Pattern> ps, String name) {
        for (Pattern p : ps) {
            if (p.matcher(name).matches()) {
                return true;
            }
        }
        return false;
    }

    private static List<Pattern> compile(String list, List<String> srcs) {
        List<Pattern> out = new ArrayList<>();
        for (String src : srcs) {
            try {
                // Compiled alone first, so that "a)|(b" cannot escape the group.
                Pattern.compile(src);
                out.add(Pattern.compile("(?:" + src + ")"));
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException("invalid " + list + " pattern \"" + src + "\": " + e.getDescription(), e);
            }
        }
        return out;
    }

    @Override
    public String toString() {
        return "{include: " + include + ", exclude: " + exclude + "}";
    }
}
