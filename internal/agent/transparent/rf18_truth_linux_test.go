//go:build linux

package transparent_test

import (
	"testing"
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
			sd19WantTruth(t, tc.rules, tc.works)
		})
	}
}
