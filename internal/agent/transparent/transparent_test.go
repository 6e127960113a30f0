//go:build linux

package transparent_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/agent/transparent"
	"github.com/postern/postern/internal/testutil/ci"
	"github.com/postern/postern/internal/testutil/netns"
	"github.com/postern/postern/internal/testutil/tproxyhost"
)

// TestCheck runs Check in namespaces set up with every piece but one:
// it names exactly the missing piece, and nothing when all are there.
func TestCheck(t *testing.T) {
	netns.Require(t)
	tests := []struct {
		name    string
		pieces  tproxyhost.Piece
		missing []string // substrings, one per missing item, in order
	}{
		{"nothing set up", 0, []string{"ip rule add fwmark 1 lookup 100", "ip route add local 0.0.0.0/0 dev lo table 100", "socket transparent 1 meta mark set 1"}},
		{"no routing rule", tproxyhost.Route | tproxyhost.Mark, []string{"ip rule add fwmark 1 lookup 100", "ip route add local"}},
		{"no local route", tproxyhost.Rule | tproxyhost.Mark, []string{"ip route add local 0.0.0.0/0 dev lo table 100"}},
		{"no mark rule", tproxyhost.Rule | tproxyhost.Route, []string{"socket transparent 1 meta mark set 1"}},
		{"all set up", tproxyhost.All, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := netns.New(t, "tpc")
			tproxyhost.Setup(t, n, tc.pieces)
			var err error
			if derr := n.Do(func() error { err = transparent.Check(); return nil }); derr != nil {
				t.Fatal(derr)
			}
			if tc.missing == nil {
				if err != nil {
					t.Fatalf("Check: %v, want nil", err)
				}
				return
			}
			var me *transparent.MissingError
			if !errors.As(err, &me) || len(me.Items) != len(tc.missing) {
				t.Fatalf("Check: %v, want %d missing items", err, len(tc.missing))
			}
			for i, want := range tc.missing {
				if !strings.Contains(me.Items[i], want) {
					t.Errorf("item %d: %q, want it to say %q", i, me.Items[i], want)
				}
			}
		})
	}
}

// TestCheckWithoutCapability runs Check in a process without
// CAP_NET_ADMIN (this test binary again, as user nobody), in a namespace
// set up completely: the capability is what it names.
func TestCheckWithoutCapability(t *testing.T) {
	if os.Getenv("TRANSPARENT_CHILD") == "1" {
		err := transparent.Check()
		os.Stdout.WriteString("CHECK: " + errString(err) + "\n")
		return
	}
	netns.Require(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		ci.Need(t, "setpriv (util-linux) not found: %v", err)
	}
	n := netns.New(t, "tpcap")
	tproxyhost.Setup(t, n, tproxyhost.All)
	// A copy of the test binary that user nobody may run.
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "transparent.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// ip netns exec enters the namespace as root; setpriv then becomes
	// user nobody, which drops every capability.
	cmd := n.Command(context.Background(), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		bin, "-test.run", "^TestCheckWithoutCapability$", "-test.v")
	cmd.Env = append(os.Environ(), "TRANSPARENT_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "CHECK: client IP preservation is unavailable on this host: missing the CAP_NET_ADMIN capability") {
		t.Fatalf("child output:\n%s\nwant Check to name the missing CAP_NET_ADMIN capability (and nothing else)", out)
	}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
