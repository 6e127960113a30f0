//go:build linux

package transparent_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/postern/postern/internal/agent/transparent"
	"github.com/postern/postern/internal/testutil/ci"
	"github.com/postern/postern/internal/testutil/netns"
)

// sf18Routing is the policy routing half of the set-up (the README's
// first two commands), which every case below has.
var sf18Routing = []string{
	"ip rule add fwmark 1 lookup 100",
	"ip route add local 0.0.0.0/0 dev lo table 100",
}

// TestSF18RealTools makes marking rules with the real nft and iptables
// (iptables-nft) inside a fresh network namespace, in the forms the README
// and the kernel's tproxy documentation give and in near misses, and runs
// Check there: it must read that namespace's rule set as the kernel holds
// it, follow jumps and gotos to user chains, and take an iptables MARK
// target only when it sets the mark the routing rule looks for (1).
// Before rules reached by a jump were followed, the kernel documentation's
// DIVERT recipe and the nft goto forms got "not set up"; before the MARK
// target's value was read, --set-mark 2 passed.
func TestSF18RealTools(t *testing.T) {
	sf18NeedRealTools(t)
	const nftDivert = "nft add table ip postern; " +
		"nft add chain ip postern prerouting '{ type filter hook prerouting priority mangle; }'; " +
		"nft add chain ip postern divert; "
	tests := []struct {
		name   string
		cmds   []string // run with sh -ec inside the namespace, after sf18Routing
		marked bool     // whether Check must find the marking rule
	}{
		{"README nft", transparent.Commands[2:], true},
		{"README iptables-nft", []string{"iptables -t mangle -A PREROUTING -m socket --transparent -j MARK --set-mark 1"}, true},
		{"kernel documentation iptables DIVERT", []string{
			"iptables -t mangle -N DIVERT",
			"iptables -t mangle -A PREROUTING -p tcp -m socket -j DIVERT",
			"iptables -t mangle -A DIVERT -j MARK --set-mark 1",
			"iptables -t mangle -A DIVERT -j ACCEPT",
		}, true},
		{"kernel documentation nft", []string{
			"nft add table filter",
			"nft add chain filter divert '{ type filter hook prerouting priority -150; }'",
			"nft add rule filter divert meta l4proto tcp socket transparent 1 meta mark set 1 accept",
		}, true},
		{"nft goto a user chain", []string{nftDivert +
			"nft add rule ip postern divert meta mark set 1 accept; " +
			"nft add rule ip postern prerouting socket transparent 1 goto divert"}, true},
		{"nft jump to a user chain that jumps on", []string{nftDivert +
			"nft add chain ip postern setmark; " +
			"nft add rule ip postern setmark meta mark set 1; " +
			"nft add rule ip postern divert jump setmark; " +
			"nft add rule ip postern prerouting socket transparent 1 jump divert"}, true},
		{"nft socket match in the user chain", []string{nftDivert +
			"nft add rule ip postern divert socket transparent 1 meta mark set 1; " +
			"nft add rule ip postern prerouting jump divert"}, true},
		{"inet table, jump", []string{
			"nft add table inet postern; " +
				"nft add chain inet postern prerouting '{ type filter hook prerouting priority mangle; }'; " +
				"nft add chain inet postern divert; " +
				"nft add rule inet postern divert meta mark set 1; " +
				"nft add rule inet postern prerouting socket transparent 1 jump divert"}, true},

		{"iptables --set-mark 2", []string{"iptables -t mangle -A PREROUTING -m socket --transparent -j MARK --set-mark 2"}, false},
		{"iptables DIVERT marking 2", []string{
			"iptables -t mangle -N DIVERT",
			"iptables -t mangle -A PREROUTING -p tcp -m socket -j DIVERT",
			"iptables -t mangle -A DIVERT -j MARK --set-mark 2",
			"iptables -t mangle -A DIVERT -j ACCEPT",
		}, false},
		{"iptables DIVERT that only accepts", []string{
			"iptables -t mangle -N DIVERT",
			"iptables -t mangle -A PREROUTING -p tcp -m socket -j DIVERT",
			"iptables -t mangle -A DIVERT -j ACCEPT",
		}, false},
		{"iptables DIVERT without the socket match", []string{
			"iptables -t mangle -N DIVERT",
			"iptables -t mangle -A PREROUTING -p tcp -j DIVERT",
			"iptables -t mangle -A DIVERT -j MARK --set-mark 1",
		}, false},
		{"nft socket transparent 0 jump", []string{nftDivert +
			"nft add rule ip postern divert meta mark set 1; " +
			"nft add rule ip postern prerouting socket transparent 0 jump divert"}, false},
		{"nft user chain reached from output only", []string{nftDivert +
			"nft add chain ip postern output '{ type filter hook output priority mangle; }'; " +
			"nft add rule ip postern divert meta mark set 1; " +
			"nft add rule ip postern output socket transparent 1 jump divert"}, false},
		{"nft jump marks 2", []string{nftDivert +
			"nft add rule ip postern divert meta mark set 2; " +
			"nft add rule ip postern prerouting socket transparent 1 jump divert"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := netns.New(t, "sf18")
			for _, c := range append(append([]string(nil), sf18Routing...), tc.cmds...) {
				if out, err := n.Command(context.Background(), "sh", "-ec", c).CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", c, err, out)
				}
			}
			var err error
			if derr := n.Do(func() error { err = transparent.Check(); return nil }); derr != nil {
				t.Fatal(derr)
			}
			if tc.marked {
				if err != nil {
					t.Fatalf("Check: %v, want nil", err)
				}
				return
			}
			var me *transparent.MissingError
			if !errors.As(err, &me) || len(me.Items) != 1 || !strings.Contains(me.Items[0], "socket transparent 1 meta mark set 1") {
				t.Fatalf("Check: %v, want exactly the marking rule missing", err)
			}
		})
	}
}

// sf18NeedRealTools skips t (fails it under CI) unless it can make
// network namespaces and the real nft and iptables are here, iptables
// being iptables-nft: the check reads the nftables rule set, so
// iptables-legacy rules would not be seen (and the README says so).
func sf18NeedRealTools(t *testing.T) {
	t.Helper()
	netns.Require(t)
	for _, tool := range []string{"nft", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			ci.Need(t, "%s not found (Debian packages nftables and iptables): %v", tool, err)
		}
	}
	if out, err := exec.Command("iptables", "--version").Output(); err != nil || !strings.Contains(string(out), "nf_tables") {
		ci.Need(t, "iptables is not iptables-nft (iptables --version: %q, %v)", out, err)
	}
}
