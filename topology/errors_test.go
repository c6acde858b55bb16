package topology

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite golden files and configs/topology.schema.json")

// TestInvalid pins every message, with its position, that each invalid
// fixture produces; fixtures named files-* are loaded with CheckFiles. Run `go test ./topology -update` after changing a
// message on purpose, and review the diff.
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 24 {
		t.Fatalf("found %d invalid fixtures, want at least 24", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			var opts []Option
			if strings.HasPrefix(filepath.Base(file), "files-") {
				opts = append(opts, CheckFiles())
			}
			m, err := Load(file, opts...)
			if err == nil {
				t.Fatalf("Load succeeded, want errors; mesh %q", m.Name)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error has type %T, want Errors", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./topology -update)", err)
			}
			if got != string(want) {
				t.Errorf("messages differ from %s (go test ./topology -update rewrites it)\ngot:\n%swant:\n%s", golden, got, want)
			}
		})
	}
}

func TestThreeErrors(t *testing.T) {
	_, err := Load("testdata/invalid/three-errors.yaml")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 3 {
		t.Fatalf("got %v, want three errors", err)
	}
	for i := 1; i < len(errs); i++ {
		if errs[i].Line < errs[i-1].Line {
			t.Errorf("errors not sorted by position: %v", errs)
		}
	}
}

func TestSecretsNotEchoed(t *testing.T) {
	for file, secret := range map[string]string{
		"testdata/invalid/inline-secret.yaml":                 "hunter2-s3cret",
		"testdata/invalid/three-errors.yaml":                  "correct horse",
		"testdata/invalid/control-plane-inline-password.yaml": "nats-s3cret-pw",
	} {
		_, err := Load(file)
		if err == nil {
			t.Fatalf("%s: Load succeeded", file)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error reveals the secret:\n%v", file, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-file.yaml")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("got %v, want one error", err)
	}
	if want := "testdata/no-such-file.yaml: cannot read: no such file or directory"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

// TestClip: cut values stay valid UTF-8 and say how long they were.
func TestClip(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	for _, c := range []struct{ got, want string }{
		{fmt.Sprintf("%q", clipped("short")), `"short"`},
		{fmt.Sprintf("%s", clipped(strings.Repeat("x", 80))), strings.Repeat("x", 80)},
		{fmt.Sprintf("%q", clipped(long)), `"` + strings.Repeat("é", 32) + `"… (200 bytes)`},
		{fmt.Sprintf("%s", clipped("a"+long)), "a" + strings.Repeat("é", 31) + "… (201 bytes)"},
		{clipMiddle("short", 10), "short"},
		{clipMiddle("a"+long, 30), "a" + strings.Repeat("é", 9) + "… (201 bytes) …" + strings.Repeat("é", 3)},
	} {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
		if !utf8.ValidString(c.got) {
			t.Errorf("%q is not UTF-8", c.got)
		}
	}
}
