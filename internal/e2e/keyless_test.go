package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/refused"
)

// TestKeylessSSH is keyless SSH as a new user sets it up after `make run`:
// a real sshd whose only source of keys is `postern authorized-keys` (its
// AuthorizedKeysCommand, run as nobody; no authorized_keys file), the
// helper configured with `postern instance init`, and `postern ssh`
// logging in with a key pushed for one minute — here for two seconds, so
// that the test sees a key expire.
func TestKeylessSSH(t *testing.T) {
	sshd, helperConfig, me := keylessSSHD(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	writeServerConfig(t, dataDir, fmt.Sprintf("version: 1\ntunnel:\n  ports: [\"22\", \"%d\"]\nssh:\n  key_ttl_seconds: 2\n", sshd.Port))
	srv := startServer(t, dataDir)
	logs := func() string { return srv.logs(sshd) }
	instanceID := localInstance(t, srv)

	// Instance-side setup, one command.
	out := srv.mustCLI(t, "instance", "init", "--instance-id", instanceID, "--keys-url", srv.url,
		"--signer-key-file", filepath.Join(dataDir, "ssh-signer.pub"), "--config", helperConfig)
	if !strings.Contains(out, "AuthorizedKeysCommand") {
		t.Fatalf("instance init printed no sshd lines:\n%s", out)
	}
	if cfg := srv.mustCLI(t, "authorized-keys", "--print-sshd-config", "--config", helperConfig); !strings.Contains(cfg, " -- %u %f") {
		t.Fatalf("--print-sshd-config:\n%s", cfg)
	}
	hostOpts := []string{"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"}

	t.Run("postern ssh", func(t *testing.T) {
		// -F /dev/null: the host user's own ~/.ssh/config cannot leak in.
		args := append([]string{"ssh", "--ssh-port", strconv.Itoa(sshd.Port), me.Username + "@" + instanceID, "-F", "/dev/null"}, hostOpts...)
		args = append(args, "echo", "keyless", "as", "$(id -un)")
		cmd := exec.Command(binPath, args...)
		stdout, stderr, code := runSSH(t, cmd, srv.env())
		if code != 0 || strings.TrimSpace(stdout) != "keyless as "+me.Username {
			t.Fatalf("postern ssh: exit %d, stdout %q, stderr %q\n%s", code, stdout, stderr, logs())
		}
	})

	// The rest pushes keys with the CLI and logs in with plain ssh.
	keyDir := t.TempDir()
	newKey := func(name string) (priv, pub string) {
		priv = filepath.Join(keyDir, name)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", priv).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
		return priv, priv + ".pub"
	}
	push := func(instance, osUser, pub string) {
		t.Helper()
		srv.mustCLI(t, "ec2-instance-connect", "send-ssh-public-key", "--instance-id", instance,
			"--instance-os-user", osUser, "--ssh-public-key", "file://"+pub)
	}
	login := func(priv string) (int, string) {
		args := append([]string{"-F", "/dev/null", "-i", priv, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
			"-p", strconv.Itoa(sshd.Port)}, hostOpts...)
		args = append(args, me.Username+"@"+sshd.Host, "true")
		_, stderr, code := runSSH(t, exec.Command("ssh", args...), nil)
		return code, stderr
	}
	printed := func(u string) string {
		out, _, _ := srv.cli(t, nil, "authorized-keys", "--config", helperConfig, "--", u)
		return out
	}

	t.Run("key expires", func(t *testing.T) {
		priv, pub := newKey("expiring")
		push(instanceID, me.Username, pub)
		if code, stderr := login(priv); code != 0 {
			t.Fatalf("a fresh key was refused: %s\n%s", stderr, logs())
		}
		waitUntil(t, 15*time.Second, "the key to expire", logs, func() (bool, string) {
			out := printed(me.Username)
			return out == "", out
		})
		if code, _ := login(priv); code == 0 {
			t.Fatalf("an expired key logged in\n%s", logs())
		}
	})

	t.Run("key for another user", func(t *testing.T) {
		priv, pub := newKey("other-user")
		push(instanceID, "nobody", pub)
		if code, _ := login(priv); code == 0 {
			t.Fatalf("a key pushed for nobody logged in as %s", me.Username)
		}
	})

	t.Run("key for another instance", func(t *testing.T) {
		var reg struct {
			Instances []struct{ InstanceId string }
		}
		var sn struct {
			Subnets []struct{ SubnetId, CidrBlock string }
		}
		srv.mustJSON(t, &sn, "ec2", "describe-subnets")
		subnet := ""
		for _, s := range sn.Subnets {
			if s.CidrBlock == "127.0.0.0/8" {
				subnet = s.SubnetId
			}
		}
		srv.mustJSON(t, &reg, "ec2", "register-instance", "--subnet-id", subnet, "--private-ip-address", "127.0.0.2")
		priv, pub := newKey("other-instance")
		push(reg.Instances[0].InstanceId, me.Username, pub)
		if code, _ := login(priv); code == 0 {
			t.Fatal("a key pushed for another instance logged in")
		}
	})

	t.Run("tampered signature", func(t *testing.T) {
		// A key service that serves a real entry with its key replaced.
		_, pub := newKey("tampered")
		push(instanceID, me.Username, pub)
		real := srv.mustCLIRaw(t, "authorized-keys", "--config", helperConfig, "--", me.Username)
		if !strings.Contains(real, "ssh-ed25519") {
			t.Fatalf("no key to tamper with: %q", real)
		}
		_, otherPub := newKey("attacker")
		attacker, _ := os.ReadFile(otherPub)
		fake := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: insecureTLS()}}).Get(srv.url + r.URL.Path)
			if err != nil {
				http.Error(w, err.Error(), 502)
				return
			}
			defer resp.Body.Close()
			body := readAll(t, resp.Body)
			// Swap the pushed key for the attacker's under the same signature.
			pubBytes, _ := os.ReadFile(pub)
			body = strings.ReplaceAll(body, strings.Join(strings.Fields(string(pubBytes))[:2], " "), strings.Join(strings.Fields(string(attacker))[:2], " "))
			w.Write([]byte(body))
		}))
		defer fake.Close()
		cfg := filepath.Join(t.TempDir(), "fake.json")
		srv.mustCLI(t, "instance", "init", "--instance-id", instanceID, "--keys-url", fake.URL,
			"--signer-key-file", filepath.Join(dataDir, "ssh-signer.pub"), "--config", cfg)
		out, stderr, _ := srv.cli(t, nil, "authorized-keys", "--config", cfg, "--", me.Username)
		if strings.TrimSpace(out) != "" {
			t.Fatalf("a tampered entry was printed: %q (%s)", out, stderr)
		}
		if !strings.Contains(stderr, "bad signature") {
			t.Errorf("the refusal is not logged: %q", stderr)
		}
	})

	t.Run("key service unreachable", func(t *testing.T) {
		// A port held bound (never listening) until the test ends: no
		// other process can take it meanwhile.
		addr := refused.Addr(t)
		cfg := filepath.Join(t.TempDir(), "gone.json")
		srv.mustCLI(t, "instance", "init", "--instance-id", instanceID, "--keys-url", "https://"+addr,
			"--signer-key-file", filepath.Join(dataDir, "ssh-signer.pub"), "--config", cfg)
		start := time.Now()
		out, _, code := srv.cli(t, nil, "authorized-keys", "--config", cfg, "--", me.Username)
		if out != "" || code == 0 {
			t.Fatalf("unreachable key service: exit %d, printed %q", code, out)
		}
		// A refused connection ends the look-up at once (helper.Timeout,
		// 3 s, bounds a silent one): 30 s is a guard against retrying,
		// not a measurement (a -race binary starts slowly on a loaded
		// machine).
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("the helper took %v; sshd does not wait that long", d)
		}
	})
}

// localInstance returns the id of the instance at 127.0.0.1.
func localInstance(t *testing.T, srv *serverProc) string {
	t.Helper()
	var desc struct {
		Reservations []struct {
			Instances []struct{ InstanceId, PrivateIpAddress string }
		}
	}
	srv.mustJSON(t, &desc, "ec2", "describe-instances")
	for _, r := range desc.Reservations {
		for _, in := range r.Instances {
			if in.PrivateIpAddress == "127.0.0.1" {
				return in.InstanceId
			}
		}
	}
	t.Fatal("no instance at 127.0.0.1")
	return ""
}

// mustCLIRaw runs a postern command and returns its stdout, failing on a
// non-zero exit.
func (p *serverProc) mustCLIRaw(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := p.cli(t, nil, args...)
	if code != 0 {
		t.Fatalf("postern %v: exit %d: %s", args, code, errOut)
	}
	return out
}

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // test relay
