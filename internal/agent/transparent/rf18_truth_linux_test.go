//go:build linux

package transparent_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent/transparent"
	"github.com/postern/postern/internal/testutil/netns"
)

// TestRF18InactiveChains: a marking rule in a prerouting chain that the
// agent's packets do not pass marks nothing, and the check must say the
// marking rule is missing, as it is. The kernel walks a chain of type nat
// only for a connection's first packet, and the packets coming back to the
// agent's transparent socket belong to a connection the agent opened; a
// dormant table's chains are on no hook at all. Each case also makes a real
// transparent connection (from an address the host does not have, to a
// listener in a second namespace) and wants the check to agree with it.
// Before the check looked at the chain's type and the table's flags, these
// were "set up" while the connection timed out, so a PreserveClientIp
// endpoint took tunnels its agent could not open.
func TestRF18InactiveChains(t *testing.T) {
	sf18NeedRealTools(t)
	chain := func(typ, prio string) string {
		return "nft add table ip t; nft add chain ip t pre '{ type " + typ + " hook prerouting priority " + prio + "; }'; " +
			"nft add rule ip t pre socket transparent 1 meta mark set 1"
	}
	tests := []struct {
		name  string
		rules string // run with sh -ec in the agent's namespace, after the routing
		works bool   // the transparent connection opens and Check says nil
	}{
		{"nft filter chain (README)", chain("filter", "mangle"), true},
		{"iptables mangle DIVERT (kernel documentation)", "iptables -t mangle -N DIVERT; " +
			"iptables -t mangle -A PREROUTING -p tcp -m socket -j DIVERT; " +
			"iptables -t mangle -A DIVERT -j MARK --set-mark 1; iptables -t mangle -A DIVERT -j ACCEPT", true},
		{"nft nat chain", chain("nat", "dstnat"), false},
		{"nft dormant table", chain("filter", "mangle") + "; nft add table ip t '{ flags dormant; }'", false},
		{"iptables nat table", "iptables -t nat -A PREROUTING -m socket --transparent -j MARK --set-mark 1", false},
		{"iptables nat table, DIVERT", "iptables -t nat -N DIVERT; " +
			"iptables -t nat -A PREROUTING -p tcp -m socket -j DIVERT; iptables -t nat -A DIVERT -j MARK --set-mark 1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each case has its own namespaces
			agent, inst := netns.New(t, "rf18agt"), netns.New(t, "rf18ins")
			sh := func(n *netns.NS, cmds ...string) {
				t.Helper()
				for _, c := range cmds {
					if out, err := n.Command(context.Background(), "sh", "-ec", c).CombinedOutput(); err != nil {
						t.Fatalf("%s: %v\n%s", c, err, out)
					}
				}
			}
			// The agent's host: a cable to the instance, the README's
			// policy routing, the case's marking rules.
			sh(agent, "ip link add a0 type veth peer name b0 netns "+inst.Name,
				"ip addr add 10.99.0.1/30 dev a0", "ip link set a0 up",
				"ip rule add fwmark 1 lookup 100", "ip route add local 0.0.0.0/0 dev lo table 100", tc.rules)
			// The instance routes the client's addresses back to the agent.
			sh(inst, "ip addr add 10.99.0.2/30 dev b0", "ip link set b0 up", "ip route add 203.0.113.0/24 via 10.99.0.1")
			ln := inst.Listen(t, "tcp4", "10.99.0.2:0")
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			var checkErr, dialErr error
			if err := agent.Do(func() error {
				checkErr = transparent.Check()
				// The deadline only ends a connection that cannot open
				// (its SYN-ACK is not delivered); one that can opens at once.
				d := net.Dialer{Control: transparent.Control, LocalAddr: &net.TCPAddr{IP: net.IPv4(203, 0, 113, 5)}, Timeout: 3 * time.Second}
				c, err := d.Dial("tcp4", ln.Addr().String())
				if err == nil {
					c.Close()
				}
				dialErr = err
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if works := dialErr == nil; works != tc.works {
				t.Fatalf("transparent connection: %v, want it to open: %v (the case is wrong, not the check)", dialErr, tc.works)
			}
			if tc.works {
				if checkErr != nil {
					t.Fatalf("Check: %v, want nil (the transparent connection opens)", checkErr)
				}
				return
			}
			var me *transparent.MissingError
			if !errors.As(checkErr, &me) || len(me.Items) != 1 || !strings.Contains(me.Items[0], "socket transparent 1 meta mark set 1") {
				t.Fatalf("Check: %v, want exactly the marking rule missing (the transparent connection does not open)", checkErr)
			}
		})
	}
}
