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
// sockets and sets mark 1, itself or in a chain it jumps or goes to. Only
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
	var prerouting []chainKey
	for _, ch := range chains {
		// Not nat chains: the kernel walks them only for a connection's
		// first packet, and the packets coming back to the agent's
		// transparent socket belong to a connection it opened.
		if ch.Hooknum != nil && *ch.Hooknum == *nftables.ChainHookPrerouting && ch.Type != nftables.ChainTypeNAT && ch.Table != nil &&
			(ch.Table.Family == nftables.TableFamilyIPv4 || ch.Table.Family == nftables.TableFamilyINet) &&
			!dormant[chainKey{family: byte(ch.Table.Family), table: ch.Table.Name}] {
			prerouting = append(prerouting, chainKey{byte(ch.Table.Family), ch.Table.Name, ch.Name})
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
	if !marked(prerouting, rules) {
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
// marks in the DIVERT chain it jumps to). It reads only each rule's socket
// match, mark and jump: a rule's other matches (a protocol, an interface)
// and verdicts that end a chain before the marking rule are not weighed,
// so it can say "set up" for a rule set that marks only some of those
// packets, never "missing" for one that marks them all.
func marked(prerouting []chainKey, rules []rule) bool {
	byChain := map[chainKey][]rule{}
	for _, r := range rules {
		k := chainKey{r.family, r.table, r.chain}
		byChain[k] = append(byChain[k], r)
	}
	type visit struct {
		chainKey
		socket bool
	}
	// The shallowest depth each chain was walked at, with or without the
	// socket matched: walking it again there or deeper finds nothing new,
	// which also ends loops (the kernel refuses them anyway); shallower, a
	// path the depth bound cut may reach further.
	seen := map[visit]int{}
	var walk func(k chainKey, socket bool, depth int) bool
	walk = func(k chainKey, socket bool, depth int) bool {
		v := visit{k, socket}
		if d, ok := seen[v]; depth > maxJumpDepth || ok && d <= depth {
			return false
		}
		seen[v] = depth
		for _, r := range byChain[k] {
			s := socket || r.socket
			if s && r.mark {
				return true
			}
			if r.jump != "" && walk(chainKey{k.family, k.table, r.jump}, s, depth+1) {
				return true
			}
		}
		return false
	}
	for _, k := range prerouting {
		if walk(k, false, 0) {
			return true
		}
	}
	return false
}

// rule is what checkMark needs of an nftables rule.
type rule struct {
	family       byte // the table's (NFPROTO_*); dumpRules sets it
	table, chain string
	socket       bool   // matches transparent sockets
	mark         bool   // sets mark 1
	jump         string // the chain its verdict jumps or goes to
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
				regs := map[uint32]int{}
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
						inspect(&r, name, data, regs)
						return nil
					})
				}
				return nil
			})
		}
	}
	return r, ad.Err()
}

// Attributes of expressions, from linux/netfilter/nf_tables.h.
const (
	nftaSocketKey   = 1 // NFTA_SOCKET_KEY
	nftaSocketDreg  = 2 // NFTA_SOCKET_DREG
	nftaCmpSreg     = 1 // NFTA_CMP_SREG
	nftaCmpOp       = 2 // NFTA_CMP_OP
	nftaCmpData     = 3 // NFTA_CMP_DATA
	nftCmpEq        = 0 // NFT_CMP_EQ
	nftCmpNeq       = 1 // NFT_CMP_NEQ
	nftSocketTransp = 0 // NFT_SOCKET_TRANSPARENT
	nftaMatchName   = 1 // NFTA_MATCH_NAME
	nftaTargetName  = 1 // NFTA_TARGET_NAME
	nftaImmDreg     = 1 // NFTA_IMMEDIATE_DREG
	nftaImmData     = 2 // NFTA_IMMEDIATE_DATA
	nftaDataValue   = 1 // NFTA_DATA_VALUE
	nftaMetaDreg    = 1 // NFTA_META_DREG
	nftaMetaKey     = 2 // NFTA_META_KEY
	nftaMetaSreg    = 3 // NFTA_META_SREG
	nftMetaMark     = 3 // NFT_META_MARK
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
	nftJump         = 0xfffffffd // NFT_JUMP (-3)
	nftGoto         = 0xfffffffc // NFT_GOTO (-4)
)

// What inspect's regs say a register holds (0: anything else):
// "socket transparent 1" loads the bit and compares it with 1, "meta mark
// set 1" loads the immediate 1 and stores it in the mark.
const regOne, regTransparent = 1, 2

// inspect notes what one expression of a rule does.
func inspect(r *rule, name string, data []byte, regs map[uint32]int) {
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
	case "socket":
		k, ok := u32(nftaSocketKey)
		reg, _ := u32(nftaSocketDreg)
		regs[reg] = 0
		if ok && k == nftSocketTransp {
			regs[reg] = regTransparent
		}
	case "cmp": // the transparent bit (1 byte, in a zeroed register) equal to 1
		reg, _ := u32(nftaCmpSreg)
		op, _ := u32(nftaCmpOp)
		var val []byte
		if ad, err := netlink.NewAttributeDecoder(attrs[nftaCmpData]); err == nil && ad.Next() && ad.Type() == nftaDataValue {
			val = ad.Bytes()
		}
		// "!= 0" too: the bit is 0 or 1 (nft writes "socket transparent 1" as eq 1).
		if regs[reg] == regTransparent && len(val) >= 1 && len(val) <= 4 && strings.Trim(string(val[1:]), "\x00") == "" &&
			(op == nftCmpEq && val[0] == 1 || op == nftCmpNeq && val[0] == 0) {
			r.socket = true
		}
	case "match":
		// iptables-nft: -m socket, with or without --transparent. Every
		// form matches a packet of a transparent socket the agent
		// connected: --transparent only narrows it to transparent
		// sockets, --nowildcard concerns listeners bound to 0.0.0.0, and
		// none can be negated. Without --transparent (the kernel
		// documentation's recipe) it also matches other local sockets'
		// packets, which the local route delivers where they were going.
		r.socket = r.socket || strings.TrimRight(string(attrs[nftaMatchName]), "\x00") == "socket"
	case "target":
		// iptables-nft: -j MARK --set-mark 1: revision 2's
		// xt_mark_tginfo2, the new mark being (mark & ^mask) ^ value. The
		// packets coming back to the agent's socket carry no mark, so
		// value 1 gives them mark 1 whatever the mask: --set-mark 1,
		// --set-xmark 1/0xffffffff, --set-mark 1/1, --or-mark 1 and
		// --xor-mark 1 all work (tried with a real transparent connection);
		// --set-mark 2 is not what the routing rule (fwmark 1) looks for.
		rev, _ := u32(nftaTargetRev)
		info := attrs[nftaTargetInfo]
		r.mark = r.mark || strings.TrimRight(string(attrs[nftaTargetName]), "\x00") == "MARK" && rev == 2 && len(info) == 8 &&
			binary.NativeEndian.Uint32(info[0:4]) == 1
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
		regs[reg] = 0
		if reg == nftRegVerdict && len(val) == 0 {
			// A verdict (the kernel's: into the verdict register, with
			// no value); jump and goto name a chain (iptables-nft's -j to
			// a user chain is one too). A later verdict replaces it.
			r.jump = ""
			code, chain := verdictOf(verdict)
			if code == nftJump || code == nftGoto {
				r.jump = chain
			}
			break
		}
		if len(val) == 4 && binary.NativeEndian.Uint32(val) == 1 {
			regs[reg] = regOne
		}
	case "meta":
		key, _ := u32(nftaMetaKey)
		if sreg, ok := u32(nftaMetaSreg); ok {
			r.mark = r.mark || (key == nftMetaMark && regs[sreg] == regOne)
		} else {
			dreg, _ := u32(nftaMetaDreg)
			regs[dreg] = 0
		}
	}
}

// verdictOf reads a verdict's code and chain (empty but for jump and goto).
func verdictOf(b []byte) (code uint32, chain string) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return 0, ""
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
