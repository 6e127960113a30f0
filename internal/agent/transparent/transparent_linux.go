package transparent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// probeAddr is an address no host has (TEST-NET-1): where a marked packet
// to it is routed shows the policy routing.
var probeAddr = net.IPv4(192, 0, 2, 1)

// Check reports whether this host lets the agent connect from clients'
// IPv4 addresses: nil when it does, a *MissingError listing what is
// missing otherwise.
func Check() error {
	var missing []string
	if err := capable(); err != nil {
		missing = append(missing, err.Error())
	}
	missing = append(missing, checkRouting()...)
	if err := checkMark(); err != nil {
		missing = append(missing, err.Error())
	}
	if len(missing) == 0 {
		return nil
	}
	return &MissingError{Items: missing}
}

// capable opens a socket and sets IP_TRANSPARENT on it.
func capable() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("a TCP socket (%v)", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_TRANSPARENT, 1); err != nil {
		if errors.Is(err, unix.EPERM) {
			return errors.New(missingCapability)
		}
		return fmt.Errorf("transparent sockets (setsockopt IP_TRANSPARENT: %v)", err)
	}
	return nil
}

// checkRouting looks for an "ip rule" sending fwmark 1 to a table, and
// for a local route there (a packet with mark 1 to any address is
// delivered locally).
func checkRouting() []string {
	rules, err := vnl.RuleList(vnl.FAMILY_V4)
	if err != nil {
		return []string{fmt.Sprintf("%s (could not list the routing rules: %v)", missingRule, err)}
	}
	table := 0
	for _, r := range rules {
		if r.Mark == 1 && (r.Mask == nil || *r.Mask == 0xffffffff) && !r.Invert && r.Src == nil && r.Dst == nil && r.IifName == "" && r.Table > 0 {
			table = r.Table
			break
		}
	}
	if table == 0 {
		return []string{missingRule, missingLocalRoute(100)}
	}
	routes, err := vnl.RouteGetWithOptions(probeAddr, &vnl.RouteGetOptions{Mark: 1})
	if err != nil || len(routes) == 0 || routes[0].Type != unix.RTN_LOCAL {
		return []string{missingLocalRoute(table)}
	}
	return nil
}

// checkMark looks, in the nftables rule set (where iptables-nft rules
// are too), for a rule in a prerouting chain that matches transparent
// sockets and sets mark 1, itself or in a chain it jumps or goes to, and
// that such a packet reaches (see marked); or one that sets it from the
// connection's mark, when a rule sets that to 1 (see markedVia). Only
// chains that see those packets count: not nat chains, not chains of a
// dormant table.
func checkMark() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("%s (could not read the nftables rule set: %v)", missingMark, err)
	}
	chains, err := c.ListChains()
	if err != nil {
		return fmt.Errorf("%s (could not read the nftables rule set: %v)", missingMark, err)
	}
	// A dormant table's chains are not on their hooks: they see no packet.
	tables, err := c.ListTables()
	if err != nil {
		return fmt.Errorf("%s (could not read the nftables rule set: %v)", missingMark, err)
	}
	dormant := map[chainKey]bool{}
	for _, t := range tables {
		// nftables v0.3.0 reads NFTA_TABLE_FLAGS (network order) in host
		// order; either order is taken so that a fixed release reads the
		// same (no flag has bit 24).
		if (t.Flags|bits.ReverseBytes32(t.Flags))&unix.NFT_TABLE_F_DORMANT != 0 {
			dormant[chainKey{family: byte(t.Family), table: t.Name}] = true
		}
	}
	var prerouting, outgoing []chainKey
	// Chains the kernel runs before connection tracking (NF_IP_PRI_CONNTRACK,
	// -200: iptables' raw table, nft's priority raw): a packet has no
	// connection there, so no connection mark to set or restore.
	early := map[chainKey]bool{}
	for _, ch := range chains {
		if ch.Hooknum == nil || ch.Table == nil || ch.Table.Family != nftables.TableFamilyIPv4 && ch.Table.Family != nftables.TableFamilyINet ||
			dormant[chainKey{family: byte(ch.Table.Family), table: ch.Table.Name}] {
			continue
		}
		k := chainKey{byte(ch.Table.Family), ch.Table.Name, ch.Name}
		early[k] = ch.Priority != nil && *ch.Priority < -200
		switch *ch.Hooknum {
		case *nftables.ChainHookPrerouting:
			// Not nat chains: the kernel walks them only for a
			// connection's first packet, and the packets coming back
			// to the agent's transparent socket belong to a connection
			// it opened.
			if ch.Type != nftables.ChainTypeNAT {
				prerouting = append(prerouting, k)
			}
		case *nftables.ChainHookOutput, *nftables.ChainHookPostrouting:
			// The agent's connection's first packet leaves through
			// these (nat chains too): a connection mark set there is
			// on the connection when the answers come back.
			outgoing = append(outgoing, k)
		}
	}
	if len(prerouting) == 0 {
		return errors.New(missingMark)
	}
	// The nftables package does not decode "socket" expressions; the
	// rules are read here.
	rules, err := dumpRules()
	if err != nil {
		return fmt.Errorf("%s (could not read the nftables rules: %v)", missingMark, err)
	}
	rules = resolveMaps(rules, func(family byte, table, set string) []nftables.SetElement {
		s, err := c.GetSetByName(&nftables.Table{Name: table, Family: nftables.TableFamily(family)}, set)
		if err != nil {
			return nil
		}
		elems, _ := c.GetSetElements(s)
		return elems
	})
	if !markedEarly(prerouting, outgoing, early, rules) {
		return errors.New(missingMark)
	}
	return nil
}

// chainKey names a chain: jumps and gotos stay inside their table, and an
// ip and an inet table may have the same name.
type chainKey struct {
	family       byte
	table, chain string
}

// maxJumpDepth bounds how many jumps and gotos marked follows from a
// prerouting chain: the kernel's own jump stack holds 16
// (NFT_JUMP_STACK_SIZE), so it refuses deeper rule sets.
const maxJumpDepth = 16

// marked reports whether a packet of a transparent socket entering one of
// the prerouting chains gets mark 1: a rule there, or in a chain reached
// from there by jumps and gotos (a path of at most maxJumpDepth), that
// sets the mark once a rule on the way has matched transparent sockets
// (the kernel documentation's iptables recipe matches in PREROUTING and
// marks in the DIVERT chain it jumps to). It follows the chains as the
// kernel runs them for such a packet: a rule whose verdict (accept, drop,
// return, goto, or a jump to a chain that accepts or drops) applies to
// every such packet ends the chain there, so a marking rule after it is
// never reached. A rule's matches that the check does not evaluate (an
// address, a port) are taken to let the packet through to the mark but not
// to its verdict, so it can say "set up" for a rule set that marks only
// some of those packets, never "missing" for one that marks them all.
func marked(prerouting []chainKey, rules []rule) bool {
	return markedVia(prerouting, nil, rules)
}

// markedVia is marked, where the mark may also come from the connection's
// mark ("meta mark set ct mark", iptables' CONNMARK --restore-mark): it
// counts when a rule sets the connection's mark to 1 on the way of the
// agent's packets out (outgoing: output and postrouting chains) or, once
// transparent sockets were matched, on the way of the answers in (where
// the rule that restores the mark may come first: the answers after the
// one that set it are marked, and the kernel resends a lost SYN-ACK).
func markedVia(prerouting, outgoing []chainKey, rules []rule) bool {
	return markedEarly(prerouting, outgoing, nil, rules)
}

// markedEarly is markedVia, where the base chains early says yes for run
// before connection tracking: neither they nor the chains they jump to
// set or restore a connection's mark.
func markedEarly(prerouting, outgoing []chainKey, early map[chainKey]bool, rules []rule) bool {
	byChain := map[chainKey][]rule{}
	for _, r := range rules {
		k := chainKey{r.family, r.table, r.chain}
		byChain[k] = append(byChain[k], r)
	}
	var preCT, outCT, preEarly, outEarly []chainKey
	for _, k := range prerouting {
		if early[k] {
			preEarly = append(preEarly, k)
		} else {
			preCT = append(preCT, k)
		}
	}
	for _, k := range outgoing {
		if early[k] {
			outEarly = append(outEarly, k)
		} else {
			outCT = append(outCT, k)
		}
	}
	// notrack (iptables' CT --notrack) before connection tracking, on
	// the agent's packets' way out or the answers' way in: no connection.
	notrack := func(r rule, _ bool) bool { return r.notrack }
	ct := !reaches(byChain, outEarly, notrack) && !reaches(byChain, preEarly, notrack) &&
		(reaches(byChain, outCT, func(r rule, _ bool) bool { return r.ctMark }) ||
			reaches(byChain, preCT, func(r rule, socket bool) bool { return socket && r.ctMark }))
	return reaches(byChain, prerouting, func(r rule, socket bool) bool { return socket && r.mark }) ||
		ct && reaches(byChain, preCT, func(r rule, _ bool) bool { return r.restore })
}

// reaches reports whether a packet of a transparent socket entering one of
// the chains from meets a rule for which hit says yes (given whether a
// rule on the way, or this one, matched transparent sockets).
func reaches(byChain map[chainKey][]rule, from []chainKey, hit func(r rule, socket bool) bool) bool {
	type visit struct {
		chainKey
		socket bool
	}
	// What walking a chain found, at the shallowest depth it was walked
	// at, with or without the socket matched: walking it again there or
	// deeper finds nothing new, which also ends loops (the kernel refuses
	// them anyway: a chain met again while it is being walked reads
	// "nothing found, does not end"); shallower, a path the depth bound cut
	// may reach further.
	type result struct {
		depth       int
		found, ends bool
	}
	memo := map[visit]*result{}
	// walk reports whether the chain has a hit (found) and whether every
	// such packet that enters it ends there, accepted or dropped, instead
	// of coming back to the rule that jumped to it (ends).
	var walk func(k chainKey, socket bool, depth int) (found, ends bool)
	walk = func(k chainKey, socket bool, depth int) (bool, bool) {
		v := visit{k, socket}
		if depth > maxJumpDepth {
			return false, false
		}
		if m, ok := memo[v]; ok && m.depth <= depth {
			return m.found, m.ends
		}
		m := &result{depth: depth}
		memo[v] = m
		m.found, m.ends = walkRules(byChain[k], k, socket, hit, func(to chainKey, s bool) (bool, bool) {
			if strings.HasPrefix(to.chain, "\x00") { // a verdict map's (vmapChain): its rule's own jumps
				return walk(to, s, depth)
			}
			return walk(to, s, depth+1)
		})
		return m.found, m.ends
	}
	for _, k := range from {
		if found, _ := walk(k, false, 0); found {
			return true
		}
	}
	return false
}

// walkRules is reaches' walk of one chain's rules, in order; next walks
// the chain a jump or goto names.
func walkRules(rules []rule, k chainKey, socket bool, hit func(rule, bool) bool, next func(chainKey, bool) (bool, bool)) (found, ends bool) {
	for _, r := range rules {
		s := socket || r.socket
		if hit(r, s) {
			return true, false
		}
		switch r.verdict {
		case verdictJump:
			found, ends := next(chainKey{k.family, k.table, r.jump}, s)
			if found {
				return true, false
			}
			if ends && !r.cond {
				return false, true
			}
		case verdictGoto:
			// The chain gone to returns to this chain's caller.
			found, ends := next(chainKey{k.family, k.table, r.jump}, s)
			if found {
				return true, false
			}
			if !r.cond {
				return false, ends
			}
		case verdictReturn:
			if !r.cond {
				return false, false
			}
		case verdictEnd, verdictDrop:
			if !r.cond {
				return false, true
			}
		}
	}
	return false, false
}

// rule is what checkMark needs of an nftables rule, for a packet coming
// back to a transparent socket (a TCP packet without a mark).
type rule struct {
	family       byte // the table's (NFPROTO_*); dumpRules sets it
	table, chain string
	socket       bool    // matches transparent sockets
	mark         bool    // leaves mark 1 on the packets it applies to, and lets them live
	restore      bool    // leaves them the connection's mark (masked to keep mark 1), and lets them live
	ctMark       bool    // sets the connection's mark to 1
	notrack      bool    // stops connection tracking for them (before any match the check does not evaluate)
	markMap      string  // sets the mark from this map (resolveMaps reads it)
	vmap         string  // takes its verdict from this verdict map (resolveMaps reads it)
	mapKeyTCP    bool    // the map's key is the layer 4 protocol: only its tcp element applies
	cond         bool    // has a match before its verdict that the check does not evaluate
	verdict      verdict // what it then does with the packet
	jump         string  // the chain its verdict jumps or goes to
}

// verdict is what a rule does with the packets it applies to.
type verdict uint8

const (
	verdictNone   verdict = iota // the next rule sees them
	verdictJump                  // the chain named runs, then the next rule
	verdictGoto                  // the chain named runs, then the caller's next rule
	verdictReturn                // the caller's next rule
	verdictEnd                   // accept, queue: this base chain ends
	verdictDrop                  // dropped: this base chain ends, and the mark is moot
)

// resolveMaps completes the rules that take their mark or verdict from a
// map, with the map's elements (elems, nil when it cannot read them): a
// mark from a map counts when the map holds the value 1 (which key the
// packet has is not evaluated, but for a map on the layer 4 protocol,
// where only tcp's applies); a verdict map's jumps and gotos, each for
// some packets, are the rules of a chain of their own (vmapChain), after
// the rules, which a rule using the map jumps to for some packets: the
// rules made grow with the rules plus the maps' elements, however many
// rules use a map.
func resolveMaps(rules []rule, elems func(family byte, table, set string) []nftables.SetElement) []rule {
	type setKey struct {
		family     byte
		table, set string
		tcp        bool
	}
	type resolved struct{ one, jumps bool }
	done := map[setKey]*resolved{}
	var chains []rule
	// get reads a map once for each of its uses (all keys, tcp's only).
	get := func(r rule, set string) *resolved {
		k := setKey{r.family, r.table, set, r.mapKeyTCP}
		if m, ok := done[k]; ok {
			return m
		}
		m := &resolved{}
		done[k] = m
		all := elems(r.family, r.table, set)
		// On the protocol, in an interval map (one with interval ends):
		// tcp's is the interval whose start is the greatest key up to tcp,
		// when no end comes between (a start wins a tie).
		proto := func(e nftables.SetElement) int {
			if len(e.Key) < 1 || strings.Trim(string(e.Key[1:]), "\x00") != "" {
				return -1
			}
			return int(e.Key[0])
		}
		interval := false
		for _, e := range all {
			interval = interval || e.IntervalEnd
		}
		if r.mapKeyTCP && interval {
			best := -1
			for i, e := range all {
				if p := proto(e); p >= 0 && p <= unix.IPPROTO_TCP && (best < 0 || p > proto(all[best]) || p == proto(all[best]) && !e.IntervalEnd) {
					best = i
				}
			}
			if best >= 0 && !all[best].IntervalEnd {
				all = []nftables.SetElement{all[best]}
				all[0].Key = []byte{unix.IPPROTO_TCP}
			} else {
				all = nil
			}
		}
		for _, e := range all {
			if r.mapKeyTCP && (len(e.Key) < 1 || e.Key[0] != unix.IPPROTO_TCP || strings.Trim(string(e.Key[1:]), "\x00") != "") {
				continue
			}
			m.one = m.one || len(e.Val) == 4 && binary.NativeEndian.Uint32(e.Val) == 1
			// google/nftables v0.3.0 leaves a verdict map's data in Val
			// (the NFTA_DATA_VERDICT attributes) when it does not decode
			// it into VerdictData.
			code, chain := verdictOf(e.Val)
			if v := e.VerdictData; v != nil {
				code, chain = uint32(v.Kind), v.Chain
			}
			if code == nftJump || code == nftGoto {
				j := rule{family: r.family, table: r.table, chain: vmapChain(set, r.mapKeyTCP), cond: true, verdict: verdictJump, jump: chain}
				if code == nftGoto {
					j.verdict = verdictGoto
				}
				chains, m.jumps = append(chains, j), true
			}
		}
		return m
	}
	out := make([]rule, 0, len(rules))
	for _, r := range rules {
		if r.markMap != "" {
			r.mark = r.mark || get(r, r.markMap).one
		}
		out = append(out, r)
		if r.vmap != "" && get(r, r.vmap).jumps {
			out = append(out, rule{family: r.family, table: r.table, chain: r.chain, socket: r.socket, cond: true, verdict: verdictJump, jump: vmapChain(r.vmap, r.mapKeyTCP)})
		}
	}
	return append(out, chains...)
}

// vmapChain names the chain resolveMaps makes of verdict map set's jumps
// (tcp: its tcp element's only): no nftables chain has a NUL in its name,
// and reaches does not count it in a path's jumps.
func vmapChain(set string, tcp bool) string {
	if tcp {
		return "\x00tcp\x00" + set
	}
	return "\x00all\x00" + set
}

// dumpRules reads every IPv4 and inet rule over netlink.
func dumpRules() ([]rule, error) {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var out []rule
	for _, fam := range []byte{unix.NFPROTO_IPV4, unix.NFPROTO_INET} {
		msgs, err := conn.Execute(netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
				Flags: netlink.Request | netlink.Dump},
			Data: []byte{fam, unix.NFNETLINK_V0, 0, 0},
		})
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if len(m.Data) < 4 {
				continue
			}
			r, err := parseRule(m.Data[4:])
			if err != nil {
				return nil, err
			}
			r.family = m.Data[0]
			out = append(out, r)
		}
	}
	return out, nil
}

func parseRule(b []byte) (rule, error) {
	var r rule
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return r, err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RULE_TABLE:
			r.table = ad.String()
		case unix.NFTA_RULE_CHAIN:
			r.chain = ad.String()
		case unix.NFTA_RULE_EXPRESSIONS:
			ad.Nested(func(list *netlink.AttributeDecoder) error {
				rr := ruleReader{}
				for list.Next() {
					list.Nested(func(e *netlink.AttributeDecoder) error {
						name, data := "", []byte(nil)
						for e.Next() {
							switch e.Type() {
							case unix.NFTA_EXPR_NAME:
								name = e.String()
							case unix.NFTA_EXPR_DATA:
								data = e.Bytes()
							}
						}
						rr.inspect(name, data)
						return nil
					})
				}
				table, chain := r.table, r.chain
				r = rr.rule()
				r.table, r.chain = table, chain
				return nil
			})
		}
	}
	return r, ad.Err()
}

// Attributes of expressions, from linux/netfilter/nf_tables.h.
const (
	nftaSocketKey   = 1  // NFTA_SOCKET_KEY
	nftaSocketDreg  = 2  // NFTA_SOCKET_DREG
	nftaCmpSreg     = 1  // NFTA_CMP_SREG
	nftaCmpOp       = 2  // NFTA_CMP_OP
	nftaCmpData     = 3  // NFTA_CMP_DATA
	nftCmpEq        = 0  // NFT_CMP_EQ
	nftCmpNeq       = 1  // NFT_CMP_NEQ
	nftSocketTransp = 0  // NFT_SOCKET_TRANSPARENT
	nftaMatchName   = 1  // NFTA_MATCH_NAME
	nftaTargetName  = 1  // NFTA_TARGET_NAME
	nftaImmDreg     = 1  // NFTA_IMMEDIATE_DREG
	nftaImmData     = 2  // NFTA_IMMEDIATE_DATA
	nftaDataValue   = 1  // NFTA_DATA_VALUE
	nftaMetaDreg    = 1  // NFTA_META_DREG
	nftaMetaKey     = 2  // NFTA_META_KEY
	nftaMetaSreg    = 3  // NFTA_META_SREG
	nftMetaMark     = 3  // NFT_META_MARK
	nftMetaL4proto  = 16 // NFT_META_L4PROTO
	nftaCtDreg      = 1  // NFTA_CT_DREG
	nftaCtKey       = 2  // NFTA_CT_KEY
	nftaCtSreg      = 4  // NFTA_CT_SREG
	nftCtMark       = 3  // NFT_CT_MARK
	nftaPayloadSreg = 5  // NFTA_PAYLOAD_SREG
	nftaLookupSet   = 1  // NFTA_LOOKUP_SET
	nftaLookupSreg  = 2  // NFTA_LOOKUP_SREG
	nftaLookupDreg  = 3  // NFTA_LOOKUP_DREG
	nftaBitwiseSreg = 1  // NFTA_BITWISE_SREG
	nftaBitwiseDreg = 2  // NFTA_BITWISE_DREG
	nftaBitwiseLen  = 3  // NFTA_BITWISE_LEN
	nftaBitwiseXor  = 5  // NFTA_BITWISE_XOR
	nftaBitwiseOp   = 6  // NFTA_BITWISE_OP (absent or 0: NFT_BITWISE_BOOL, mask then xor)
)

// Verdicts and iptables targets, from the same header: a jump or goto is
// an immediate into the verdict register.
const (
	nftaTargetRev   = 2          // NFTA_TARGET_REV
	nftaTargetInfo  = 3          // NFTA_TARGET_INFO
	nftaDataVerdict = 2          // NFTA_DATA_VERDICT
	nftaVerdictCode = 1          // NFTA_VERDICT_CODE
	nftaVerdictName = 2          // NFTA_VERDICT_CHAIN
	nftRegVerdict   = 0          // NFT_REG_VERDICT
	nftContinue     = 0xffffffff // NFT_CONTINUE (-1)
	nftBreak        = 0xfffffffe // NFT_BREAK (-2)
	nftJump         = 0xfffffffd // NFT_JUMP (-3)
	nftGoto         = 0xfffffffc // NFT_GOTO (-4)
	nftReturn       = 0xfffffffb // NFT_RETURN (-5)
)

// What ruleReader's regs say a register holds (0: anything else):
// "socket transparent 1" loads the bit and compares it with 1, "meta mark
// set 1" loads the immediate 1 and stores it in the mark, "meta l4proto
// tcp" (iptables' -p tcp) loads the protocol and compares it with 6.
const (
	regOne = 1 + iota
	regTransparent
	regL4proto
	regCtMark // "ct mark": "meta mark set ct mark" restores it
	regMap    // a value of the map ruleReader.maps names
	regZero   // the packet's mark before the rule set one: 0 (the answers carry none)
)

// ruleReader follows a rule's expressions in order, as the kernel runs
// them on a packet coming back to a transparent socket.
type ruleReader struct {
	r rule
	// regs is what each 32-bit register holds, by the kernel's index
	// (nft_parse_register: 0-3 the verdict, 4-19 the data; NFT_REG_1 to
	// NFT_REG_4 are 16 bytes each, the same bytes as NFT_REG32_00 to 15):
	// registers keep what earlier expressions left, so every expression
	// that writes one is followed, or forgets them all.
	regs    [20]int
	maps    [20]string // the map a regMap register's value comes from
	mark    int        // the mark the rule has set: 0 none, 1, -1 another, markRestored, markFromMap
	markMap string     // the map of markFromMap
	setAny  bool       // a mark was set, of any value (the packet's is no longer 0)
	done    bool       // a verdict, a break, or a match it fails: no later expression runs
	dead    bool       // it never applies to such a packet
}

// regIndex is register reg's index in regs, -1 if there is none.
func regIndex(reg uint32) int {
	switch {
	case reg <= 4:
		return int(reg) * 4
	case reg >= 8 && reg <= 23:
		return int(reg) - 4
	}
	return -1
}

// write notes that n 32-bit registers from reg now hold kind (the first)
// and anything else (the rest).
func (rr *ruleReader) write(reg uint32, n int, kind int) {
	i := regIndex(reg)
	if i < 0 || n <= 0 {
		return
	}
	for j := i; j < i+n && j < len(rr.regs); j++ {
		rr.regs[j] = 0
	}
	rr.regs[i] = kind
	rr.maps[i] = ""
}

// forget notes that any register may now hold anything.
func (rr *ruleReader) forget() { rr.regs = [20]int{} }

func (rr *ruleReader) read(reg uint32) int {
	if i := regIndex(reg); i >= 0 {
		return rr.regs[i]
	}
	return 0
}

// ruleReader.mark for a mark set from the connection's, and from a map.
const (
	markRestored = 2
	markFromMap  = 3
)

// setMark notes a mark set to 1 (v 1), to the connection's
// (markRestored) or to another value (v -1): after a match the check does
// not evaluate, another value is not taken to undo the others (the packets
// that match may not be the agent's).
func (rr *ruleReader) setMark(v int) {
	rr.setAny = true
	if v > 0 || !rr.r.cond {
		rr.mark = v
	}
}

func (rr *ruleReader) setVerdict(v verdict, chain string) {
	rr.r.verdict, rr.r.jump, rr.done = v, chain, true
}

// rule is what the rule does, once its expressions are read.
func (rr *ruleReader) rule() rule {
	if rr.dead {
		return rule{cond: true}
	}
	r := rr.r
	r.mark = rr.mark == 1 && r.verdict != verdictDrop
	r.restore = rr.mark == markRestored && r.verdict != verdictDrop
	if rr.mark == markFromMap && r.verdict != verdictDrop {
		r.markMap = rr.markMap
	}
	return r
}

// Meta keys whose value fits one 32-bit register (linux/netfilter/
// nf_tables.h's nft_meta_keys): len, protocol, priority, mark, iif, oif,
// iiftype, oiftype, skuid, skgid, nftrace, rtclassid, secmark, nfproto,
// l4proto.
var metaKeys32 = map[uint32]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 8: true, 9: true,
	10: true, 11: true, 12: true, 13: true, 14: true, 15: true, 16: true}

// inspect follows one expression of a rule.
func (rr *ruleReader) inspect(name string, data []byte) {
	if rr.done {
		return
	}
	r := &rr.r
	attrs := map[uint16][]byte{}
	if ad, err := netlink.NewAttributeDecoder(data); err == nil {
		for ad.Next() {
			attrs[ad.Type()] = ad.Bytes()
		}
	}
	u32 := func(t uint16) (uint32, bool) {
		if v, ok := attrs[t]; ok && len(v) == 4 {
			return binary.BigEndian.Uint32(v), true
		}
		return 0, false
	}
	switch name {
	case "counter", "log":
	case "socket":
		k, ok := u32(nftaSocketKey)
		reg, _ := u32(nftaSocketDreg)
		if ok && k <= 2 { // transparent, mark, wildcard: 32 bits
			kind := 0
			if k == nftSocketTransp {
				kind = regTransparent
			}
			rr.write(reg, 1, kind)
		} else {
			rr.forget()
		}
	case "cmp":
		reg, _ := u32(nftaCmpSreg)
		op, _ := u32(nftaCmpOp)
		var val []byte
		if ad, err := netlink.NewAttributeDecoder(attrs[nftaCmpData]); err == nil && ad.Next() && ad.Type() == nftaDataValue {
			val = ad.Bytes()
		}
		// A byte in a zeroed register (the transparent bit, the protocol)
		// compared in 1 to 4 bytes.
		small := len(val) >= 1 && len(val) <= 4 && strings.Trim(string(val[1:]), "\x00") == ""
		switch kind := rr.read(reg); {
		case kind == regTransparent && small && (op == nftCmpEq && val[0] == 1 || op == nftCmpNeq && val[0] == 0):
			// "!= 0" too: the bit is 0 or 1 (nft writes "socket transparent 1" as eq 1).
			r.socket = true
		case kind == regTransparent && small && (op == nftCmpEq && val[0] == 0 || op == nftCmpNeq && val[0] == 1):
			rr.dead, rr.done = true, true
		case kind == regL4proto && small && op == nftCmpEq && val[0] == unix.IPPROTO_TCP:
		default:
			r.cond = true
		}
	case "match":
		// iptables-nft: -m socket, with or without --transparent. Every
		// form matches a packet of a transparent socket the agent
		// connected: --transparent only narrows it to transparent
		// sockets, --nowildcard concerns listeners bound to 0.0.0.0, and
		// none can be negated. Without --transparent (the kernel
		// documentation's recipe) it also matches other local sockets'
		// packets, which the local route delivers where they were going.
		// Other matches are not evaluated.
		if strings.TrimRight(string(attrs[nftaMatchName]), "\x00") == "socket" {
			r.socket = true
		} else {
			r.cond = true
		}
	case "target":
		rev, _ := u32(nftaTargetRev)
		info := attrs[nftaTargetInfo]
		switch strings.TrimRight(string(attrs[nftaTargetName]), "\x00") {
		case "MARK":
			// -j MARK --set-mark 1: revision 2's xt_mark_tginfo2, the
			// new mark being (mark & ^mask) ^ value. The packets coming
			// back to the agent's socket carry no mark, so value 1 gives
			// them mark 1 whatever the mask: --set-mark 1, --set-xmark
			// 1/0xffffffff, --set-mark 1/1, --or-mark 1 and --xor-mark 1
			// all work (tried with a real transparent connection);
			// --set-mark 2 is not what the routing rule (fwmark 1) looks
			// for.
			if rev == 2 && len(info) == 8 && binary.NativeEndian.Uint32(info[0:4]) == 1 {
				rr.setMark(1)
			} else {
				rr.setMark(-1)
			}
		case "TPROXY":
			// -j TPROXY --tproxy-mark value/mask (revisions 0 and 1:
			// xt_tproxy_target_info{,_v1}, mask then value): it finds the
			// packet's established socket first, and for a transparent
			// one sets the mark as MARK does and accepts. Its recipes put
			// it behind a port match for the proxy's listener, which the
			// agent's packets do not pass: after a match the check does
			// not evaluate it is taken for neither.
			if !r.cond && rev <= 1 && len(info) >= 8 {
				r.socket = true
				if binary.NativeEndian.Uint32(info[4:8]) == 1 {
					rr.setMark(1)
				}
			}
			rr.setVerdict(verdictEnd, "")
		case "CONNMARK":
			// xt_connmark_tginfo1 and 2: ctmark, ctmask, nfmask (host
			// order), then revision 2's shift_dir and shift_bits, then
			// the mode. --set-mark 1 (XT_CONNMARK_SET: the connection's
			// mark, 0 before, becomes (0 & ^ctmask) ^ ctmark) and
			// --restore-mark (XT_CONNMARK_RESTORE: the packet's mark
			// becomes (0 & ^nfmask) ^ (ctmark & ctmask), unshifted).
			ne := binary.NativeEndian.Uint32
			var mode, shift byte
			known := false
			switch {
			case rev == 1 && len(info) >= 13:
				mode, known = info[12], true
			case rev == 2 && len(info) >= 15:
				mode, shift, known = info[14], info[13], true
			}
			switch {
			case !known:
			case mode == 0 && ne(info[0:4]) == 1:
				r.ctMark = true
			case mode == 2 && shift == 0 && ne(info[4:8])&1 != 0:
				rr.setMark(markRestored)
			}
		case "REJECT":
			rr.setVerdict(verdictDrop, "")
		case "CT":
			// -j CT --notrack: xt_ct_target_info{,_v1}'s flags (host
			// order) first, XT_CT_NOTRACK bit 0.
			if !r.cond && rev <= 2 && len(info) >= 2 && binary.NativeEndian.Uint16(info[0:2])&1 != 0 {
				r.notrack = true
			}
		}
	case "notrack":
		if !r.cond {
			r.notrack = true
		}
	case "tproxy":
		// nft's tproxy: the packet goes on (to "meta mark set 1", as its
		// recipes write) only if its socket is transparent. As for
		// iptables' TPROXY, only when nothing before it was a match the
		// check does not evaluate.
		if !r.cond {
			r.socket = true
		}
	case "reject":
		rr.setVerdict(verdictDrop, "")
	case "immediate":
		reg, _ := u32(nftaImmDreg)
		var val, verdict []byte
		if ad, err := netlink.NewAttributeDecoder(attrs[nftaImmData]); err == nil {
			for ad.Next() {
				switch ad.Type() {
				case nftaDataValue:
					val = ad.Bytes()
				case nftaDataVerdict:
					verdict = ad.Bytes()
				}
			}
		}
		if reg == nftRegVerdict && len(val) == 0 {
			// A verdict (the kernel's: into the verdict register, with
			// no value): the kernel runs none of the rule's later
			// expressions. Jump and goto name a chain (iptables-nft's -j
			// to a user chain is one too).
			switch code, chain := verdictOf(verdict); {
			case code == nftJump:
				rr.setVerdict(verdictJump, chain)
			case code == nftGoto:
				rr.setVerdict(verdictGoto, chain)
			case code == nftReturn:
				rr.setVerdict(verdictReturn, "")
			case code == nftBreak:
				rr.done = true
			case code == nftContinue || int32(code) < 0:
			case code&0xff == 0: // NF_DROP
				rr.setVerdict(verdictDrop, "")
			default: // NF_ACCEPT, NF_QUEUE (with its queue number), NF_STOLEN
				rr.setVerdict(verdictEnd, "")
			}
			break
		}
		kind := 0
		if len(val) == 4 && binary.NativeEndian.Uint32(val) == 1 {
			kind = regOne
		}
		rr.write(reg, (len(val)+3)/4, kind)
	case "meta":
		key, _ := u32(nftaMetaKey)
		if sreg, ok := u32(nftaMetaSreg); ok {
			if key == nftMetaMark {
				switch rr.read(sreg) {
				case regOne:
					rr.setMark(1)
				case regCtMark:
					rr.setMark(markRestored)
				case regMap:
					rr.setMark(markFromMap)
					if rr.mark == markFromMap {
						rr.markMap = rr.maps[regIndex(sreg)]
					}
				default:
					rr.setMark(-1)
				}
			}
			break
		}
		dreg, _ := u32(nftaMetaDreg)
		switch {
		case key == nftMetaL4proto:
			rr.write(dreg, 1, regL4proto)
		case key == nftMetaMark && !rr.setAny:
			rr.write(dreg, 1, regZero)
		case metaKeys32[key]:
			rr.write(dreg, 1, 0)
		default:
			rr.forget()
		}
	case "ct":
		key, _ := u32(nftaCtKey)
		if sreg, ok := u32(nftaCtSreg); ok {
			if key == nftCtMark && rr.read(sreg) == regOne {
				r.ctMark = true
			}
			break
		}
		if dreg, _ := u32(nftaCtDreg); key == nftCtMark {
			rr.write(dreg, 1, regCtMark)
		} else {
			rr.forget()
		}
	case "payload":
		if _, ok := u32(nftaPayloadSreg); !ok {
			rr.forget()
		}
	case "bitwise":
		// "meta mark set meta mark or 1" (xor 1 too): the packet's mark,
		// 0, masked, then xored with 1: 1.
		sreg, _ := u32(nftaBitwiseSreg)
		dreg, _ := u32(nftaBitwiseDreg)
		op, _ := u32(nftaBitwiseOp)
		var xor []byte
		if ad, err := netlink.NewAttributeDecoder(attrs[nftaBitwiseXor]); err == nil && ad.Next() && ad.Type() == nftaDataValue {
			xor = ad.Bytes()
		}
		one := len(xor) == 4 && binary.NativeEndian.Uint32(xor) == 1
		if l, _ := u32(nftaBitwiseLen); rr.read(sreg) == regZero && op == 0 && l == 4 && one {
			rr.forget()
			rr.write(dreg, 1, regOne)
			break
		}
		rr.forget()
	case "byteorder":
		rr.forget()
	case "lookup":
		// A set lookup is a match; a map's (a destination register) and
		// a verdict map's (the verdict register) too, as a key that is
		// not in the map ends the rule: the value is one of the map's,
		// which resolveMaps reads.
		set := strings.TrimRight(string(attrs[nftaLookupSet]), "\x00")
		r.cond = true
		sreg, _ := u32(nftaLookupSreg)
		tcp := rr.read(sreg) == regL4proto
		dreg, ok := u32(nftaLookupDreg)
		switch {
		case !ok:
		case dreg == nftRegVerdict:
			r.vmap, r.mapKeyTCP = set, tcp
			rr.done = true
		case regIndex(dreg) < 0:
			rr.forget()
		default:
			rr.forget()
			rr.write(dreg, 1, regMap)
			rr.maps[regIndex(dreg)] = set
			r.mapKeyTCP = tcp
		}
	default:
		// Anything else (a set lookup, a map, a limit, a route or fib
		// lookup) may end the rule for the packet and may write any
		// register.
		rr.forget()
		r.cond = true
	}
}

// verdictOf reads a verdict's code (NFT_CONTINUE when it has none) and
// chain (empty but for jump and goto).
func verdictOf(b []byte) (code uint32, chain string) {
	code = nftContinue
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return code, ""
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case nftaVerdictCode:
			if len(ad.Bytes()) == 4 {
				code = ad.Uint32()
			}
		case nftaVerdictName:
			chain = ad.String()
		}
	}
	return code, chain
}

// Control sets IP_TRANSPARENT (IPV6_TRANSPARENT for IPv6 sockets) on a
// socket about to connect: a net.Dialer's Control.
func Control(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if network == "tcp6" {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_TRANSPARENT, 1)
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("transparent socket: %w", serr)
	}
	return nil
}

// Supported reports whether this platform has transparent sockets.
const Supported = true
