//go:build linux

package transparent

import (
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRF18MarkedHostile: marked on rule sets made to make a walk loop or
// blow up. A chain jumping to itself (the kernel takes that in a chain no
// base chain reaches, and the dump holds it) ends; a fully connected
// ladder of user chains, where the paths number 8^15, is walked chain by
// chain (each chain at most once per depth it is first reached at), so the
// test ends at once instead of never; a marking rule only beyond the
// kernel's jump stack is not reached.
func TestRF18MarkedHostile(t *testing.T) {
	const ip = unix.NFPROTO_IPV4
	pre := chainKey{ip, "t", "pre"}
	r := func(chain string, socket, mark bool, jump string) rule {
		return sd19Rule(rule{family: ip, table: "t", chain: chain, socket: socket, mark: mark, jump: jump})
	}
	// ladder: pre jumps (socket matched) to the 8 chains of layer 1; every
	// chain of layer l jumps to all 8 of layer l+1, up to layer `layers`;
	// the chains of layer markAt (0: none) mark.
	ladder := func(layers, markAt int) []rule {
		name := func(l, i int) string { return "l" + strconv.Itoa(l) + "c" + strconv.Itoa(i) }
		var rules []rule
		for i := 0; i < 8; i++ {
			rules = append(rules, r("pre", true, false, name(1, i)))
		}
		for l := 1; l <= layers; l++ {
			for i := 0; i < 8; i++ {
				if l == markAt {
					rules = append(rules, r(name(l, i), false, true, ""))
				}
				for j := 0; j < 8 && l < layers; j++ {
					rules = append(rules, r(name(l, i), false, false, name(l+1, j)))
				}
			}
		}
		return rules
	}
	tests := []struct {
		name  string
		rules []rule
		want  bool
	}{
		{"a chain jumping to itself", []rule{r("pre", true, false, "a"), r("a", false, false, "a")}, false},
		{"a chain jumping to itself, then marking", []rule{r("pre", true, false, "a"), r("a", false, false, "a"), r("a", false, true, "")}, true},
		{"ladder without a marking rule", ladder(20, 0), false},
		{"ladder marking at 16 jumps", ladder(20, 16), true},
		{"ladder marking at 17 jumps", ladder(20, 17), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := marked([]chainKey{pre}, tc.rules); got != tc.want {
				t.Fatalf("marked = %v, want %v", got, tc.want)
			}
		})
	}
}
