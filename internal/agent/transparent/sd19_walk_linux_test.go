//go:build linux

package transparent

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// sd19Rule gives a rule built by hand the verdict its jump field names:
// an unconditional jump when it names a chain.
func sd19Rule(r rule) rule {
	if r.jump != "" && r.verdict == verdictNone {
		r.verdict = verdictJump
	}
	return r
}

// TestSD19MarkedVerdicts: marked follows the verdicts a packet of a
// transparent socket meets before a marking rule, as the kernel does. A
// rule whose verdict applies to every such packet (no match the check does
// not evaluate) ends its chain: after accept, drop or an unconditional
// goto nothing later in the base chain runs, after return the caller goes
// on; a jump to a chain that accepts or drops them ends the caller too.
// Before, the marking rule after any of them read "set up".
func TestSD19MarkedVerdicts(t *testing.T) {
	const ip = unix.NFPROTO_IPV4
	pre := chainKey{ip, "t", "pre"}
	r := func(chain string, socket, mark, cond bool, v verdict, jump string) rule {
		return rule{family: ip, table: "t", chain: chain, socket: socket, mark: mark, cond: cond, verdict: v, jump: jump}
	}
	markRule := r("d", false, true, false, verdictNone, "")
	tests := []struct {
		name  string
		rules []rule
		want  bool
	}{
		{"return before the mark", []rule{r("pre", true, false, false, verdictJump, "d"), r("d", false, false, false, verdictReturn, ""), markRule}, false},
		{"conditional return before the mark", []rule{r("pre", true, false, false, verdictJump, "d"), r("d", false, false, true, verdictReturn, ""), markRule}, true},
		{"accept before the mark", []rule{r("pre", true, false, false, verdictJump, "d"), r("d", false, false, false, verdictEnd, ""), markRule}, false},
		{"drop before the mark", []rule{r("pre", true, false, false, verdictJump, "d"), r("d", false, false, false, verdictDrop, ""), markRule}, false},
		{"accept after the mark", []rule{r("pre", true, false, false, verdictJump, "d"), markRule, r("d", false, false, false, verdictEnd, "")}, true},
		{"socket transparent 1 accept, then the marking rule", []rule{r("pre", true, false, false, verdictEnd, ""), r("pre", true, true, false, verdictNone, "")}, false},
		{"a jump to a chain that returns, then the mark", []rule{r("pre", true, false, false, verdictJump, "x"), r("x", false, false, false, verdictReturn, ""),
			r("pre", true, true, false, verdictNone, "")}, true},
		{"a jump to a chain that accepts, then the mark", []rule{r("pre", true, false, false, verdictJump, "x"), r("x", false, false, false, verdictEnd, ""),
			r("pre", false, true, false, verdictNone, "")}, false},
		{"a conditional jump to a chain that accepts, then the mark", []rule{r("pre", true, false, true, verdictJump, "x"), r("x", false, false, false, verdictEnd, ""),
			r("pre", true, true, false, verdictNone, "")}, true},
		{"an unconditional goto, then the mark", []rule{r("pre", true, false, false, verdictGoto, "x"), r("x", false, false, false, verdictNone, ""),
			r("pre", true, true, false, verdictNone, "")}, false},
		{"a conditional goto, then the mark", []rule{r("pre", true, false, true, verdictGoto, "x"), r("pre", true, true, false, verdictNone, "")}, true},
		{"a goto to a chain that accepts, from a jumped-to chain", []rule{r("pre", true, false, false, verdictJump, "a"), r("a", false, false, false, verdictGoto, "b"),
			r("b", false, false, false, verdictEnd, ""), r("pre", false, true, false, verdictNone, "")}, false},
		{"a goto to a chain that returns, from a jumped-to chain", []rule{r("pre", true, false, false, verdictJump, "a"), r("a", false, false, false, verdictGoto, "b"),
			r("a", false, true, false, verdictNone, ""), r("b", false, false, false, verdictNone, ""), r("pre", true, true, false, verdictNone, "")}, true},
		{"a chain met again while walked, then accepting", []rule{r("pre", true, false, false, verdictJump, "a"), r("a", false, false, true, verdictJump, "a"),
			r("a", false, false, false, verdictEnd, ""), r("pre", false, true, false, verdictNone, "")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := marked([]chainKey{pre}, tc.rules); got != tc.want {
				t.Fatalf("marked = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSD19ResolveMaps: resolveMaps with a map reader that answers as
// google/nftables does (a verdict map's data left in Val), that cannot
// read the map (nil), or that returns malformed data: a mark from a map
// counts only when the map holds 1 (for a map on the protocol, tcp's
// element), a verdict map's jumps and gotos become conditional rules,
// and nothing else is made up.
func TestSD19ResolveMaps(t *testing.T) {
	const ip = unix.NFPROTO_IPV4
	jumpTo := func(code uint32, chain string) []byte {
		b := binary.BigEndian.AppendUint32([]byte{8, 0, nftaVerdictCode, 0}, code)
		name := append([]byte(chain), 0)
		b = append(b, byte(4+len(name)), 0, nftaVerdictName, 0)
		b = append(b, name...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	one := binary.NativeEndian.AppendUint32(nil, 1)
	two := binary.NativeEndian.AppendUint32(nil, 2)
	maps := map[string][]nftables.SetElement{
		"ones":   {{Key: []byte{17}, Val: two}, {Key: []byte{6}, Val: one}},
		"udp1":   {{Key: []byte{17}, Val: one}, {Key: []byte{6}, Val: two}},
		"vmap":   {{Key: []byte{6}, Val: jumpTo(nftJump, "d")}, {Key: []byte{17}, Val: jumpTo(nftGoto, "u")}, {Key: []byte{1}, Val: jumpTo(1, "")}},
		"lib":    {{Key: []byte{6}, VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: "g"}}},
		"broken": {{Key: nil, Val: []byte{0xff}}, {Key: []byte{6}, Val: []byte{4, 0}}},
	}
	elems := func(family byte, table, set string) []nftables.SetElement {
		if family != ip || table != "t" {
			return nil
		}
		return maps[set]
	}
	base := rule{family: ip, table: "t", chain: "pre", socket: true, cond: true}
	with := func(f func(*rule)) rule { r := base; f(&r); return r }
	jump := func(v verdict, chain string) rule {
		return rule{family: ip, table: "t", chain: "pre", socket: true, cond: true, verdict: v, jump: chain}
	}
	inMap := func(set string, tcp bool, v verdict, chain string) rule {
		return rule{family: ip, table: "t", chain: vmapChain(set, tcp), cond: true, verdict: v, jump: chain}
	}
	tests := []struct {
		name string
		in   rule
		want []rule
	}{
		{"mark map holding 1", with(func(r *rule) { r.markMap = "ones" }), []rule{with(func(r *rule) { r.markMap, r.mark = "ones", true })}},
		{"mark map on tcp holding 1 for tcp", with(func(r *rule) { r.markMap, r.mapKeyTCP = "ones", true }),
			[]rule{with(func(r *rule) { r.markMap, r.mapKeyTCP, r.mark = "ones", true, true })}},
		{"mark map on tcp holding 1 for udp only", with(func(r *rule) { r.markMap, r.mapKeyTCP = "udp1", true }),
			[]rule{with(func(r *rule) { r.markMap, r.mapKeyTCP = "udp1", true })}},
		{"mark map not readable", with(func(r *rule) { r.markMap = "missing" }), []rule{with(func(r *rule) { r.markMap = "missing" })}},
		{"mark map with malformed elements", with(func(r *rule) { r.markMap = "broken" }), []rule{with(func(r *rule) { r.markMap = "broken" })}},
		// rd19: the map's jumps are a chain of their own (vmapChain).
		{"verdict map", with(func(r *rule) { r.vmap = "vmap" }), []rule{with(func(r *rule) { r.vmap = "vmap" }), jump(verdictJump, vmapChain("vmap", false)),
			inMap("vmap", false, verdictJump, "d"), inMap("vmap", false, verdictGoto, "u")}},
		{"verdict map on tcp", with(func(r *rule) { r.vmap, r.mapKeyTCP = "vmap", true }),
			[]rule{with(func(r *rule) { r.vmap, r.mapKeyTCP = "vmap", true }), jump(verdictJump, vmapChain("vmap", true)), inMap("vmap", true, verdictJump, "d")}},
		{"verdict map the library decoded", with(func(r *rule) { r.vmap = "lib" }), []rule{with(func(r *rule) { r.vmap = "lib" }), jump(verdictJump, vmapChain("lib", false)),
			inMap("lib", false, verdictGoto, "g")}},
		{"verdict map with malformed elements", with(func(r *rule) { r.vmap = "broken" }), []rule{with(func(r *rule) { r.vmap = "broken" })}},
		{"verdict map of another table", rule{family: ip, table: "x", chain: "pre", vmap: "vmap"}, []rule{{family: ip, table: "x", chain: "pre", vmap: "vmap"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolveMaps([]rule{tc.in}, elems); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("resolveMaps = %+v, want %+v", got, tc.want)
			}
		})
	}
}
