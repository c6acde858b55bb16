package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// KDCRealm is the realm of every KDC the harness starts.
const KDCRealm = "GEOMESH.TEST"

// KDC is a throwaway MIT Kerberos KDC on a loopback port, for GSSAPI
// tests: krb5kdc from Debian's krb5-kdc package and kadmin.local from
// krb5-admin-server, with a fresh database in a temporary directory.
type KDC struct {
	dir  string
	conf string // krb5.conf for clients (Java and gokrb5)
	env  []string
	port int
	proc *exec.Cmd
	done chan struct{}
	stop sync.Once

	mu      sync.Mutex        // serialises kadmin.local; guards keytabs
	keytabs map[string]string // principal → keytab written by AddPrincipal
}

// StartKDC starts a KDC for realm KDCRealm and stops it when the test
// ends. It fails the test when the MIT KDC is not installed, naming the
// packages to install.
func StartKDC(tb testing.TB) *KDC {
	tb.Helper()
	k, err := NewKDC(tb.Context(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(k.Close)
	return k
}

// NewKDC starts a KDC for realm KDCRealm keeping its database and
// configuration in dir, for a TestMain that shares one KDC between
// clusters; Close stops it. ctx bounds the start.
func NewKDC(ctx context.Context, dir string) (*KDC, error) {
	for _, bin := range []string{"krb5kdc", "kdb5_util", "kadmin.local"} {
		if _, err := lookKerberos(bin); err != nil {
			return nil, fmt.Errorf("kafkatest: %s not found (apt-get install krb5-kdc krb5-admin-server): %w", bin, err)
		}
	}
	return startKDC(ctx, dir)
}

// lookKerberos finds an MIT tool, which Debian installs in /usr/sbin,
// often not on a test's PATH.
func lookKerberos(bin string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	return exec.LookPath(filepath.Join("/usr/sbin", bin))
}

func startKDC(ctx context.Context, dir string) (*KDC, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	k := &KDC{dir: dir, conf: filepath.Join(dir, "krb5.conf"), port: ports[0], done: make(chan struct{}),
		keytabs: map[string]string{}}
	// TCP only (udp_preference_limit 1): the free port was checked for
	// TCP, and Java and gokrb5 both speak TCP to a KDC.
	krb5 := fmt.Sprintf(`[libdefaults]
  default_realm = %[1]s
  dns_lookup_kdc = false
  dns_lookup_realm = false
  rdns = false
  udp_preference_limit = 1
  default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
  default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
  permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
[realms]
  %[1]s = {
    kdc = 127.0.0.1:%[2]d
  }
`, KDCRealm, k.port)
	kdcConf := fmt.Sprintf(`[kdcdefaults]
  kdc_ports = %[2]d
  kdc_tcp_ports = %[2]d
[realms]
  %[1]s = {
    database_name = %[3]s/principal
    key_stash_file = %[3]s/stash
    acl_file = %[3]s/kadm5.acl
    kdc_ports = %[2]d
    kdc_tcp_ports = %[2]d
    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  }
[logging]
  kdc = FILE:%[3]s/kdc.log
`, KDCRealm, k.port, dir)
	for name, body := range map[string]string{"krb5.conf": krb5, "kdc.conf": kdcConf, "kadm5.acl": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return nil, fmt.Errorf("kafkatest: kdc: %w", err)
		}
	}
	k.env = append(os.Environ(), "KRB5_CONFIG="+k.conf, "KRB5_KDC_PROFILE="+filepath.Join(dir, "kdc.conf"))
	if err := k.run(ctx, "kdb5_util", "create", "-s", "-r", KDCRealm, "-P", "kafkatest-master"); err != nil {
		return nil, err
	}
	kdc, _ := lookKerberos("krb5kdc")
	k.proc = exec.Command(kdc, "-n", "-r", KDCRealm)
	k.proc.Env = k.env
	log, err := os.Create(filepath.Join(dir, "krb5kdc.out"))
	if err != nil {
		return nil, fmt.Errorf("kafkatest: kdc: %w", err)
	}
	defer log.Close()
	k.proc.Stdout, k.proc.Stderr = log, log
	k.proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := k.proc.Start(); err != nil {
		return nil, fmt.Errorf("kafkatest: start krb5kdc: %w", err)
	}
	go func() { _ = k.proc.Wait(); close(k.done) }()
	// The KDC is up once it accepts TCP connections on its port.
	deadline := time.Now().Add(10 * time.Second)
	for !dialable(k.port) {
		select {
		case <-k.done:
			return nil, fmt.Errorf("kafkatest: krb5kdc exited: %s", tail(filepath.Join(dir, "kdc.log"), 20))
		default:
		}
		if time.Now().After(deadline) {
			k.Close()
			return nil, errors.New("kafkatest: krb5kdc did not listen within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return k, nil
}

func (k *KDC) run(ctx context.Context, bin string, args ...string) error {
	p, err := lookKerberos(bin)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = k.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kafkatest: %s %s: %w: %s", bin, strings.Join(args, " "), err, out)
	}
	return nil
}

// Krb5Conf is the krb5.conf that points clients at this KDC.
func (k *KDC) Krb5Conf() string { return k.conf }

// AddPrincipal creates principal (without the realm, such as geomesh or
// kafka/127.0.0.1) with a random key and writes its keytab, returning the
// keytab's path. Asked again for the same principal it returns the same
// keytab: clusters sharing a KDC all have brokers kafka/127.0.0.1, and a
// second ktadd would change the key under the first cluster's keytab.
// It may be called from several goroutines.
func (k *KDC) AddPrincipal(ctx context.Context, principal string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if keytab, ok := k.keytabs[principal]; ok {
		return keytab, nil
	}
	keytab := filepath.Join(k.dir, strings.ReplaceAll(principal, "/", "_")+".keytab")
	if err := k.run(ctx, "kadmin.local", "-r", KDCRealm, "-q", "addprinc -randkey "+principal); err != nil {
		return "", err
	}
	if err := k.run(ctx, "kadmin.local", "-r", KDCRealm, "-q", "ktadd -k "+keytab+" "+principal); err != nil {
		return "", err
	}
	k.keytabs[principal] = keytab
	return keytab, nil
}

// RotateKey gives principal, added before with AddPrincipal, a new random
// key, as an operator's key rotation does, and writes the new key to a
// new keytab whose path it returns. The keytab AddPrincipal wrote keeps
// the old key, which the KDC no longer accepts.
func (k *KDC) RotateKey(ctx context.Context, principal string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	old, ok := k.keytabs[principal]
	if !ok {
		return "", fmt.Errorf("kafkatest: kdc: rotate %s: not added with AddPrincipal", principal)
	}
	keytab := strings.TrimSuffix(old, ".keytab") + "-rotated.keytab"
	if err := k.run(ctx, "kadmin.local", "-r", KDCRealm, "-q", "ktadd -k "+keytab+" "+principal); err != nil {
		return "", err
	}
	k.keytabs[principal] = keytab
	return keytab, nil
}

// Close stops the KDC; it may be called more than once.
func (k *KDC) Close() {
	if k.proc == nil || k.proc.Process == nil {
		return
	}
	k.stop.Do(func() {
		_ = syscall.Kill(-k.proc.Process.Pid, syscall.SIGKILL)
		<-k.done
	})
}

func dialable(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
