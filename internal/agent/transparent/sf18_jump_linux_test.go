//go:build linux

package transparent

import (
	"encoding/hex"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// The kernel documentation's iptables recipe (Documentation/networking/
// tproxy.rst) and near misses, as the kernel dumps them when iptables-nft
// 1.8.9 and nft 1.0.6 (Debian 12) made them in a test namespace (SF,
// s18): iptables -t mangle -N DIVERT; -A PREROUTING -p tcp -m socket -j
// DIVERT; -A DIVERT -j MARK --set-mark 1; -A DIVERT -j ACCEPT.
const (
	sf18DivertJump = "0b0001006d616e676c6500000f000200505245524f5554494e4700000c0003000000000000000003f000040024000100" +
		"090001006d6574610000000014000200080002000000001008000100000000012c00010008000100636d7000200002000800" +
		"01000000000108000200000000000c0003000500010006000000340001000a0001006d61746368000000240002000b000100" +
		"736f636b6574000008000200000000030c00030000000000000000002c0001000c000100636f756e746572001c0002000c00" +
		"010000000000000000000c00020000000000000000003c0001000e000100696d6d6564696174650000002800020008000100" +
		"000000001c0002001800020008000100fffffffd0b0002004449564552540000"
	sf18DivertMark1 = "0b0001006d616e676c6500000b00020044495645525400000c0003000000000000000004640004002c0001000c000100636f" +
		"756e746572001c0002000c00010000000000000000000c0002000000000000000000340001000b0001007461726765740000" +
		"24000200090001004d41524b0000000008000200000000020c00030001000000ffffffff"
	sf18DivertAccept = "0b0001006d616e676c6500000b00020044495645525400000c00030000000000000000050c000600000000000000000460000400" +
		"2c0001000c000100636f756e746572001c0002000c00010000000000000000000c00020000000000000000003000" +
		"01000e000100696d6d6564696174650000001c0002000800010000000000100002000c0002000800010000000001"
	// -A DIVERT -j MARK --set-mark 2, and --or-mark 1.
	sf18DivertMark2 = "0b0001006d616e676c6500000b00020044495645525400000c00030000000000000000060c00060000000000000000056400" +
		"04002c0001000c000100636f756e746572001c0002000c00010000000000000000000c000200000000000000000034000100" +
		"0b000100746172676574000024000200090001004d41524b0000000008000200000000020c00030002000000ffffffff"
	sf18DivertOrMark1 = "0b0001006d616e676c6500000b00020044495645525400000c00030000000000000000070c00060000000000000000066400" +
		"04002c0001000c000100636f756e746572001c0002000c00010000000000000000000c000200000000000000000034000100" +
		"0b000100746172676574000024000200090001004d41524b0000000008000200000000020c0003000100000001000000"
	// nft add rule ip postern prerouting socket transparent 1 goto divert
	sf18NftGoto = "0c000100706f737465726e000f000200707265726f7574696e6700000c000300000000000000000390000400240001000b000100" +
		"736f636b6574000014000200080001000000000008000200000000012c00010008000100636d70002000020008000100000000" +
		"0108000200000000000c00030005000100010000003c0001000e000100696d6d656469617465000000280002000800010000000000" +
		"1c0002001800020008000100fffffffc0b0002006469766572740000"
)

// TestSF18KernelRules: parseRule reads the jump (iptables-nft's -j to a
// user chain) and the goto of the kernel's dumps, and takes a MARK target
// only when it sets mark 1. Before jumps were read, the PREROUTING rule of
// the DIVERT recipe had nothing to follow; before the MARK target's value
// was read, --set-mark 2 counted as marking (--or-mark 1 marks the
// unmarked packets coming back to the agent, and counts).
func TestSF18KernelRules(t *testing.T) {
	for _, tc := range []struct {
		name, hex string
		want      rule
	}{
		{"DIVERT recipe: PREROUTING -p tcp -m socket -j DIVERT", sf18DivertJump, rule{table: "mangle", chain: "PREROUTING", socket: true, verdict: verdictJump, jump: "DIVERT"}},
		{"DIVERT recipe: -j MARK --set-mark 1", sf18DivertMark1, rule{table: "mangle", chain: "DIVERT", mark: true}},
		{"DIVERT recipe: -j ACCEPT", sf18DivertAccept, rule{table: "mangle", chain: "DIVERT", verdict: verdictEnd}},
		{"-j MARK --set-mark 2", sf18DivertMark2, rule{table: "mangle", chain: "DIVERT"}},
		{"-j MARK --or-mark 1", sf18DivertOrMark1, rule{table: "mangle", chain: "DIVERT", mark: true}},
		{"nft socket transparent 1 goto divert", sf18NftGoto, rule{table: "postern", chain: "prerouting", socket: true, verdict: verdictGoto, jump: "divert"}},
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

// TestSF18Marked: marked follows jumps and gotos from the prerouting
// chains, within their table, to a rule that sets the mark once a rule on
// the way matched transparent sockets; loops and paths deeper than the
// kernel's jump stack end the search.
func TestSF18Marked(t *testing.T) {
	const ip, inet = unix.NFPROTO_IPV4, unix.NFPROTO_INET
	pre := chainKey{ip, "mangle", "PREROUTING"}
	r := func(chain string, socket, mark bool, jump string) rule {
		return sd19Rule(rule{family: ip, table: "mangle", chain: chain, socket: socket, mark: mark, jump: jump})
	}
	// chainOf makes a path of n jumps from PREROUTING (which matches the
	// socket) to a chain that marks.
	chainOf := func(n int) []rule {
		rules := []rule{r("PREROUTING", true, false, "c1")}
		for i := 1; i < n; i++ {
			rules = append(rules, r("c"+strconv.Itoa(i), false, false, "c"+strconv.Itoa(i+1)))
		}
		return append(rules, r("c"+strconv.Itoa(n), false, true, ""))
	}
	tests := []struct {
		name  string
		rules []rule
		want  bool
	}{
		{"one rule", []rule{r("PREROUTING", true, true, "")}, true},
		{"DIVERT recipe", []rule{r("PREROUTING", true, false, "DIVERT"), r("DIVERT", false, true, ""), r("DIVERT", false, false, "")}, true},
		{"socket matched in the user chain", []rule{r("PREROUTING", false, false, "DIVERT"), r("DIVERT", true, true, "")}, true},
		{"the jump is not taken by transparent sockets' packets' rule", []rule{r("PREROUTING", false, false, "DIVERT"), r("PREROUTING", true, false, ""), r("DIVERT", false, true, "")}, false},
		{"user chain never reached", []rule{r("PREROUTING", true, false, ""), r("DIVERT", false, true, "")}, false},
		{"jump to a chain with no rules", []rule{r("PREROUTING", true, false, "nowhere")}, false},
		{"a loop", []rule{r("PREROUTING", true, false, "a"), r("a", false, false, "b"), r("b", false, false, "a")}, false},
		{"a loop, then a marking rule", []rule{r("PREROUTING", true, false, "a"), r("a", false, false, "b"), r("b", false, false, "a"), r("b", false, true, "")}, true},
		{"a chain entered first without the socket match", []rule{r("PREROUTING", false, false, "a"), r("PREROUTING", true, false, "a"), r("a", false, true, "")}, true},
		{"a chain reached first by a long path, then by a short one", append(chainOf(15)[:15],
			r("c15", false, false, "x"), r("PREROUTING", true, false, "x"), r("x", false, false, "y"), r("y", false, true, "")), true},
		{"16 jumps", chainOf(16), true},
		{"17 jumps", chainOf(17), false},
		{"same chain name in another table", []rule{r("PREROUTING", true, false, "DIVERT"),
			{family: ip, table: "other", chain: "DIVERT", mark: true}}, false},
		{"same table name in another family", []rule{r("PREROUTING", true, false, "DIVERT"),
			{family: inet, table: "mangle", chain: "DIVERT", mark: true}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := marked([]chainKey{pre}, tc.rules); got != tc.want {
				t.Fatalf("marked = %v, want %v", got, tc.want)
			}
		})
	}
}
