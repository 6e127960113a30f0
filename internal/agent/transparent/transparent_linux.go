package transparent

import (
	"encoding/binary"
	"errors"
	"fmt"
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
// sockets and sets mark 1.
func checkMark() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("%s (could not read the nftables rule set: %v)", missingMark, err)
	}
	chains, err := c.ListChains()
	if err != nil {
		return fmt.Errorf("%s (could not read the nftables rule set: %v)", missingMark, err)
	}
	prerouting := map[[2]string]bool{}
	for _, ch := range chains {
		if ch.Hooknum != nil && *ch.Hooknum == *nftables.ChainHookPrerouting && ch.Table != nil &&
			(ch.Table.Family == nftables.TableFamilyIPv4 || ch.Table.Family == nftables.TableFamilyINet) {
			prerouting[[2]string{ch.Table.Name, ch.Name}] = true
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
	for _, r := range rules {
		if prerouting[[2]string{r.table, r.chain}] && r.socket && r.mark {
			return nil
		}
	}
	return errors.New(missingMark)
}

// rule is what checkMark needs of an nftables rule.
type rule struct {
	table, chain string
	socket       bool // matches transparent sockets
	mark         bool // sets mark 1 (or, iptables' MARK target, a mark)
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
	case "match": // iptables-nft: -m socket
		r.socket = r.socket || strings.TrimRight(string(attrs[nftaMatchName]), "\x00") == "socket"
	case "target": // iptables-nft: -j MARK
		r.mark = r.mark || strings.TrimRight(string(attrs[nftaTargetName]), "\x00") == "MARK"
	case "immediate":
		reg, _ := u32(nftaImmDreg)
		var val []byte
		if ad, err := netlink.NewAttributeDecoder(attrs[nftaImmData]); err == nil {
			for ad.Next() {
				if ad.Type() == nftaDataValue {
					val = ad.Bytes()
				}
			}
		}
		regs[reg] = 0
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
