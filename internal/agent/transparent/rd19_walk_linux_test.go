//go:build linux

package transparent

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// TestRD19MapsLinear: a named verdict map (or mark map) that many rules
// use. Before, resolveMaps copied the map's jumps after every rule that
// used it: 2,000 rules on a 5,000-element verdict map made 10 million
// rules (gigabytes, read at the agent's start), and the mark map's elements
// were read again for every rule. Now the verdict map's jumps are one
// chain of their own that each rule jumps to: the rules resolveMaps
// returns and the elements it reads grow with the rules plus the elements.
// The walk over them still finds the mark behind the map's jumps (and
// only for the map's tcp element, when it is keyed on the protocol).
func TestRD19MapsLinear(t *testing.T) {
	const ip = unix.NFPROTO_IPV4
	const nRules, nElems = 2000, 5000
	vjump := func(chain string) []byte {
		b := binary.BigEndian.AppendUint32([]byte{8, 0, nftaVerdictCode, 0}, nftJump)
		name := append([]byte(chain), 0)
		b = append(b, byte(4+len(name)), 0, nftaVerdictName, 0)
		b = append(b, name...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	var vm, mm []nftables.SetElement
	for i := range nElems {
		key := binary.BigEndian.AppendUint32(nil, uint32(i))
		to := fmt.Sprintf("c%d", i%3)
		if i == nElems-1 {
			key, to = []byte{unix.IPPROTO_TCP, 0, 0, 0}, "divert"
		}
		vm = append(vm, nftables.SetElement{Key: key, Val: vjump(to)})
		mm = append(mm, nftables.SetElement{Key: key, Val: binary.NativeEndian.AppendUint32(nil, 2)})
	}
	reads := 0
	elems := func(family byte, table, set string) []nftables.SetElement {
		switch set {
		case "vm":
			reads += len(vm)
			return vm
		case "mm":
			reads += len(mm)
			return mm
		}
		return nil
	}
	for _, tcp := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyed on the protocol %v", tcp), func(t *testing.T) {
			reads = 0
			var rules []rule
			for i := range nRules {
				rules = append(rules, rule{family: ip, table: "t", chain: "pre", socket: true, cond: true, vmap: "vm", mapKeyTCP: tcp},
					rule{family: ip, table: "t", chain: "pre", cond: true, markMap: "mm", mapKeyTCP: tcp},
					rule{family: ip, table: "t", chain: fmt.Sprintf("c%d", i%3), cond: true})
			}
			rules = append(rules, rule{family: ip, table: "t", chain: "divert", mark: true})
			out := resolveMaps(rules, elems)
			if max := len(rules) + 2*nElems; len(out) > max {
				t.Fatalf("resolveMaps made %d rules of %d rules and %d elements, want at most %d", len(out), len(rules), nElems, max)
			}
			if max := 4 * nElems; reads > max {
				t.Fatalf("resolveMaps went through %d map elements, want at most %d", reads, max)
			}
			if !marked([]chainKey{{ip, "t", "pre"}}, out) {
				t.Fatal("marked = false, want the mark in the chain the verdict map jumps to")
			}
		})
	}
	// For udp only, the map's jumps do not apply to the agent's packets.
	rules := []rule{{family: ip, table: "t", chain: "pre", socket: true, cond: true, vmap: "udp", mapKeyTCP: true},
		{family: ip, table: "t", chain: "divert", mark: true}}
	udp := []nftables.SetElement{{Key: []byte{unix.IPPROTO_UDP, 0, 0, 0}, Val: vjump("divert")}}
	if marked([]chainKey{{ip, "t", "pre"}}, resolveMaps(rules, func(byte, string, string) []nftables.SetElement { return udp })) {
		t.Fatal("marked = true for a verdict map jumping to the mark for udp only")
	}
}

// TestRD19WalkLadder: reaches' cost on generated ladders of chains (each
// rule a conditional jump, so no chain ends the walk): every chain jumping
// twice to the next (2^16 paths within the kernel's jump depth), and a
// base chain jumping to every rung, each met first deep and then
// shallower (the memo walks a chain again only when it meets it
// shallower, at most maxJumpDepth+1 times for each socket state). The
// rules it looks at stay within 2*(maxJumpDepth+1) times the rules.
func TestRD19WalkLadder(t *testing.T) {
	const ip = unix.NFPROTO_IPV4
	const n = 400
	name := func(i int) string { return fmt.Sprintf("c%d", i) }
	jump := func(from string, to int, socket bool) rule {
		return rule{family: ip, table: "t", chain: from, socket: socket, cond: true, verdict: verdictJump, jump: name(to)}
	}
	ladders := map[string][]rule{}
	var twice, rungs []rule
	for i := range n {
		twice = append(twice, jump(name(i), i+1, i == 7), jump(name(i), i+1, false))
		if i > 0 {
			rungs = append(rungs, jump(name(i), i+1, i%5 == 0))
		}
		// c1 first (every rung after it met at its deepest), then each
		// next rung one jump from the base chain.
		rungs = append(rungs, jump(name(0), i+1, i%3 == 0))
	}
	ladders["two jumps to the next chain"] = twice
	ladders["the base chain jumping to every rung"] = rungs
	for lname, rules := range ladders {
		t.Run(lname, func(t *testing.T) {
			// The mark, where no path within the kernel's jump depth
			// leads but through the rungs: every rule is looked at.
			rules = append(rules, rule{family: ip, table: "t", chain: name(n + 1), mark: true})
			byChain := map[chainKey][]rule{}
			for _, r := range rules {
				k := chainKey{r.family, r.table, r.chain}
				byChain[k] = append(byChain[k], r)
			}
			looked := 0
			found := reaches(byChain, []chainKey{{ip, "t", name(0)}}, func(r rule, socket bool) bool {
				looked++
				return r.mark
			})
			if max := 2 * (maxJumpDepth + 1) * len(rules); looked > max {
				t.Fatalf("reaches looked at %d rules of %d, want at most %d", looked, len(rules), max)
			}
			t.Logf("%d rules, %d looked at", len(rules), looked)
			if found {
				t.Fatal("reaches = true, want false (no chain jumps to the mark's)")
			}
		})
	}
}

// TestRD19ProtocolIntervals: a mark map keyed on the protocol with
// intervals (nft's "meta l4proto map { 1-10 : 1 }": a start element
// holding the value, an end element one past the interval, no value).
// Before, only an element keyed exactly tcp counted: "missing" for a map
// whose interval holds tcp. An exact map (no interval ends) still counts
// only tcp's own element, and an interval ending at tcp does not hold it.
func TestRD19ProtocolIntervals(t *testing.T) {
	const ip = unix.NFPROTO_IPV4
	val := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	start := func(p byte, v uint32) nftables.SetElement {
		return nftables.SetElement{Key: []byte{p, 0, 0, 0}, Val: val(v)}
	}
	end := func(p byte) nftables.SetElement {
		return nftables.SetElement{Key: []byte{p, 0, 0, 0}, IntervalEnd: true}
	}
	tests := []struct {
		name  string
		elems []nftables.SetElement
		want  bool
	}{
		{"1-10 : 1", []nftables.SetElement{end(11), start(1, 1), end(0)}, true},
		{"6 : 1 as an interval", []nftables.SetElement{end(7), start(6, 1)}, true},
		{"1-5 : 1", []nftables.SetElement{end(6), start(1, 1)}, false},
		{"1-5 : 1, 6-10 : 2", []nftables.SetElement{end(11), start(6, 2), end(6), start(1, 1)}, false},
		{"1-5 : 2, 6-10 : 1", []nftables.SetElement{end(11), start(6, 1), end(6), start(1, 2)}, true},
		{"17-20 : 1", []nftables.SetElement{end(21), start(17, 1)}, false},
		{"exact icmp : 1", []nftables.SetElement{start(1, 1)}, false},
		{"only ends", []nftables.SetElement{end(1), end(6)}, false},
		{"malformed keys", []nftables.SetElement{{Key: nil, Val: val(1)}, {Key: []byte{1, 2}, Val: val(1)}, end(7)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := rule{family: ip, table: "t", chain: "pre", socket: true, cond: true, markMap: "m", mapKeyTCP: true}
			out := resolveMaps([]rule{in}, func(byte, string, string) []nftables.SetElement { return tc.elems })
			if len(out) != 1 || out[0].mark != tc.want {
				t.Fatalf("resolveMaps = %+v, want one rule with mark %v", out, tc.want)
			}
		})
	}
}
