//go:build linux

package transparent_test

import (
	"testing"
)

// TestRD19Truth: rule sets that restore the mark from the connection's
// mark, or set the connection's mark, in a chain the kernel runs before
// connection tracking (priority below -200, NF_IP_PRI_CONNTRACK: iptables'
// raw table, nft's "priority raw"), where a packet has no connection yet
// and the ct expressions and CONNMARK do nothing; and other forms the
// review tried. Each with a real transparent connection (sd19Truth) that
// shows what the kernel does; Check must agree with it.
func TestRD19Truth(t *testing.T) {
	sf18NeedRealTools(t)
	pre := func(prio string) string {
		return "nft add table ip t; nft add chain ip t pre '{ type filter hook prerouting priority " + prio + "; }'; "
	}
	out := func(prio string) string {
		return "nft add table ip o; nft add chain ip o out '{ type filter hook output priority " + prio + "; }'; " +
			"nft add rule ip o out ip saddr 203.0.113.0/24 ct mark set 1; "
	}
	tests := []struct {
		name  string
		rules string
		works bool
	}{
		// Before connection tracking: no connection, no connection mark.
		{"nft restore at priority raw", out("mangle") + pre("raw") + "nft add rule ip t pre meta mark set ct mark", false},
		{"nft restore at priority -201", out("mangle") + pre("-201") + "nft add rule ip t pre meta mark set ct mark", false},
		{"nft restore at priority -199", out("mangle") + pre("-199") + "nft add rule ip t pre meta mark set ct mark", true},
		{"nft output ct mark set 1 at priority raw", out("raw") + pre("mangle") + "nft add rule ip t pre meta mark set ct mark", false},
		{"nft socket ct mark set 1 at priority raw, restore at mangle", pre("raw") + "nft add rule ip t pre socket transparent 1 ct mark set 1; " +
			"nft add chain ip t pre2 '{ type filter hook prerouting priority mangle; }'; nft add rule ip t pre2 meta mark set ct mark", false},
		{"iptables raw OUTPUT CONNMARK --set-mark 1", "iptables -t raw -A OUTPUT -s 203.0.113.0/24 -j CONNMARK --set-mark 1; " +
			"iptables -t mangle -A PREROUTING -j CONNMARK --restore-mark", false},
		{"iptables raw PREROUTING --restore-mark", "iptables -t mangle -A OUTPUT -s 203.0.113.0/24 -j CONNMARK --set-mark 1; " +
			"iptables -t raw -A PREROUTING -j CONNMARK --restore-mark", false},
		{"iptables mangle OUTPUT --set-mark 1, mangle PREROUTING --restore-mark", "iptables -t mangle -A OUTPUT -s 203.0.113.0/24 -j CONNMARK --set-mark 1; " +
			"iptables -t mangle -A PREROUTING -j CONNMARK --restore-mark", true},
		// A plain mark at priority raw works: the mark needs no connection.
		{"nft socket mark at priority raw", pre("raw") + "nft add rule ip t pre socket transparent 1 meta mark set 1", true},
		// The connection's mark set in one table, restored in another.
		{"nft ct mark set in one table, restored in another", pre("mangle") + "nft add rule ip t pre socket transparent 1 ct mark set 1; " +
			"nft add table inet u; nft add chain inet u pre '{ type filter hook prerouting priority 10; }'; nft add rule inet u pre meta mark set ct mark", true},
		// The packet's own mark (0) or 1.
		{"nft meta mark set meta mark or 1", pre("mangle") + "nft add rule ip t pre socket transparent 1 meta mark set meta mark or 1", true},
		{"nft meta mark set meta mark xor 1", pre("mangle") + "nft add rule ip t pre socket transparent 1 meta mark set meta mark xor 1", true},
		{"nft meta mark set meta mark or 2", pre("mangle") + "nft add rule ip t pre socket transparent 1 meta mark set meta mark or 2", false},
		{"nft meta mark set 2, then meta mark or 1", pre("mangle") + "nft add rule ip t pre socket transparent 1 meta mark set 2 meta mark set meta mark or 1", false},
		{"nft after a match, meta mark set 2, then meta mark or 1", pre("mangle") + "nft add rule ip t pre socket transparent 1 ip saddr 10.99.0.2 meta mark set 2 meta mark set meta mark or 1", false},
		// No connection tracking for the agent's connection.
		{"nft notrack on the way out, ct mark restored", "nft add table ip r; nft add chain ip r out '{ type filter hook output priority raw; }'; nft add rule ip r out notrack; " +
			out("mangle") + pre("mangle") + "nft add rule ip t pre meta mark set ct mark", false},
		{"nft notrack for the answers, ct mark restored", "nft add table ip r; nft add chain ip r pre '{ type filter hook prerouting priority raw; }'; nft add rule ip r pre notrack; " +
			out("mangle") + pre("mangle") + "nft add rule ip t pre meta mark set ct mark", false},
		{"nft notrack for another address, ct mark restored", "nft add table ip r; nft add chain ip r out '{ type filter hook output priority raw; }'; nft add rule ip r out ip daddr 198.51.100.7 notrack; " +
			out("mangle") + pre("mangle") + "nft add rule ip t pre meta mark set ct mark", true},
		{"iptables raw CT --notrack, CONNMARK restored", "iptables -t raw -A OUTPUT -j CT --notrack; iptables -t mangle -A OUTPUT -s 203.0.113.0/24 -j CONNMARK --set-mark 1; " +
			"iptables -t mangle -A PREROUTING -j CONNMARK --restore-mark", false},
		// Maps with intervals and concatenations.
		{"nft mark from an interval map", pre("mangle") + "nft add rule ip t pre socket transparent 1 meta mark set ip saddr map { 10.99.0.0/24 : 1 }", true},
		{"nft interval verdict map jumping to the mark", pre("mangle") + "nft add chain ip t divert; nft add rule ip t divert meta mark set 1; " +
			"nft add rule ip t pre socket transparent 1 ip saddr vmap { 10.99.0.0/24 : jump divert, 10.98.0.0/16 : accept }", true},
		{"nft interval verdict map accepting only", pre("mangle") + "nft add chain ip t divert; nft add rule ip t divert meta mark set 1; " +
			"nft add rule ip t pre socket transparent 1 ip saddr vmap { 10.99.0.0/24 : accept, 10.98.0.0/16 : drop }", false},
		{"nft mark from a concatenated map", pre("mangle") + "nft add rule ip t pre socket transparent 1 meta mark set meta l4proto . ip saddr map { tcp . 10.99.0.2 : 1 }", true},
		{"nft mark from a protocol interval map", pre("mangle") + "nft add rule ip t pre socket transparent 1 meta mark set meta l4proto map { 1-10 : 1 }", true},
		// Families: an ip6 table's rules never see the IPv4 answers.
		{"nft ip6 table marks", "nft add table ip6 t; nft add chain ip6 t pre '{ type filter hook prerouting priority mangle; }'; " +
			"nft add rule ip6 t pre socket transparent 1 meta mark set 1", false},
		{"nft inet table marks", "nft add table inet t; nft add chain inet t pre '{ type filter hook prerouting priority mangle; }'; " +
			"nft add rule inet t pre socket transparent 1 meta mark set 1", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each case has its own namespaces
			sd19WantTruth(t, tc.rules, tc.works)
		})
	}
}
