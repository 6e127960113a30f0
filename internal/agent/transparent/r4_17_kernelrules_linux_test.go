//go:build linux

package transparent

import (
	"encoding/hex"
	"testing"
)

// The marking rule as the kernel dumps it (NFT_MSG_GETRULE, after the
// nfgenmsg header) when the real tools made it: nftables 1.0.6 and
// iptables-nft 1.8.9 (Debian 12), on Linux 6.18, captured in a test
// namespace (R4, s17). The README's own form (nft add rule ip postern
// prerouting socket transparent 1 meta mark set 1) dumps byte for byte as
// qg17KernelRule.
const (
	// The kernel's tproxy documentation (Documentation/networking/
	// tproxy.rst): nft add table filter; nft add chain filter divert
	// '{ type filter hook prerouting priority -150; }'; nft add rule
	// filter divert meta l4proto tcp socket transparent 1 meta mark set 1
	// accept. The meta load reuses register 1 before the socket's.
	r4KernelDoc = "0b00010066696c74657200000b00020064697665727400000c0003000000000000000002240104002400010009000100" +
		"6d6574610000000014000200080002000000001008000100000000012c00010008000100636d70002000020008000100" +
		"0000000108000200000000000c0003000500010006000000240001000b000100736f636b657400001400020008000100" +
		"0000000008000200000000012c00010008000100636d700020000200080001000000000108000200000000000c000300" +
		"05000100010000002c0001000e000100696d6d6564696174650000001800020008000100000000010c00020008000100" +
		"0100000024000100090001006d657461000000001400020008000200000000030800030000000001300001000e000100" +
		"696d6d6564696174650000001c0002000800010000000000100002000c0002000800010000000001"
	// The README's other form: iptables-nft -t mangle -A PREROUTING -m
	// socket --transparent -j MARK --set-mark 1 (an xt match and target).
	r4IptablesNft = "0b0001006d616e676c6500000f000200505245524f5554494e4700000c00030000000000000000029800040034000100" +
		"0a0001006d61746368000000240002000b000100736f636b6574000008000200000000030c0003000100000000000000" +
		"2c0001000c000100636f756e746572001c0002000c00010000000000000000000c000200000000000000000034000100" +
		"0b000100746172676574000024000200090001004d41524b0000000008000200000000020c00030001000000ffffffff"
	// The README's form with "socket transparent 0": no marking rule.
	r4Transparent0 = "0c000100706f737465726e000f000200707265726f7574696e6700000c0003000000000000000002a400040024000100" +
		"0b000100736f636b6574000014000200080001000000000008000200000000012c00010008000100636d700020000200" +
		"080001000000000108000200000000000c00030005000100000000002c0001000e000100696d6d656469617465000000" +
		"1800020008000100000000010c000200080001000100000024000100090001006d657461000000001400020008000200" +
		"000000030800030000000001"
)

// TestR4KernelRules: Check's rule parser accepts the marking rule in each
// form the README and the kernel's documentation give, as the real tools
// write it, and not "socket transparent 0". Regression guard for the
// register tracking of 6b53a50: a stricter parser that turned any of them
// down would make agents on correctly set-up hosts refuse to preserve
// client addresses.
func TestR4KernelRules(t *testing.T) {
	for _, tc := range []struct {
		name, hex string
		want      rule
	}{
		{"README nft", qg17KernelRule, rule{table: "postern", chain: "prerouting", socket: true, mark: true}},
		{"kernel documentation nft", r4KernelDoc, rule{table: "filter", chain: "divert", socket: true, mark: true, verdict: verdictEnd}},
		{"README iptables-nft", r4IptablesNft, rule{table: "mangle", chain: "PREROUTING", socket: true, mark: true}},
		{"socket transparent 0", r4Transparent0, rule{table: "postern", chain: "prerouting", cond: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseRule(b)
			if err != nil || got != tc.want {
				t.Fatalf("parseRule = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
