//go:build linux

package transparent

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// qg17KernelRule is the rule tproxyhost installs (nft add rule ip postern
// prerouting socket transparent 1 meta mark set 1) as the kernel dumps it
// (NFT_MSG_GETRULE, after the nfgenmsg header), captured in a test
// namespace: the one input Check must accept.
const qg17KernelRule = "0c000100706f737465726e000f000200707265726f7574696e6700000c0003000000000000000002" +
	"a4000400240001000b000100736f636b6574000014000200080001000000000008000200000000012c00010008000100" +
	"636d700020000200080001000000000108000200000000000c00030005000100010000002c0001000e000100696d6d65" +
	"6469617465000000180002000800010000000001" +
	"0c000200080001000100000024000100090001006d657461000000001400020008000200000000030800030000000001"

// FuzzParseRule feeds parseRule arbitrary netlink attributes (the kernel's
// answer is trusted, but a parser must not panic on any bytes, and a bug in
// it turns into a false "this host is set up"). Properties: it never
// panics, and whatever it accepts matches what google/nftables' own
// expression decoders make of the same bytes, evaluated by the documented
// grammar (qg17Want): "socket transparent 1" (or iptables' -m socket) and
// "meta mark set 1" (or iptables' -j MARK).
func FuzzParseRule(f *testing.F) {
	kernel, err := hex.DecodeString(qg17KernelRule)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(kernel)
	// The kernel rule with "socket transparent 0" instead of 1: the cmp's
	// data is the 0x01 right after "0500 0100" in its NFTA_DATA_VALUE.
	zero := append([]byte(nil), kernel...)
	if i := bytes.Index(zero, []byte{0x0c, 0, 3, 0, 5, 0, 1, 0, 1}); i >= 0 {
		zero[i+8] = 0
	}
	f.Add(zero)
	f.Add(kernel[:len(kernel)/2])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0x01, 0x00})
	// Found by this target while parseRule's register tracking was being
	// written: a socket expression whose attributes break off before its
	// key (a draft took the missing key for 0, transparent).
	crasher, err := hex.DecodeString("ac0004802c0030300b000100736f636b657400301c0002800800020000000008303030303030303030303030303030302c00303008000100636d700020000280080001000000000808003030303030300c00038005000100013030302c0030300e000100696d6d6564696174650030301800028008000100000000090c000280080001000100000024003030090001006d657461003030301400028008000200000000030800030000000009")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(crasher)
	// Found by this target as well, against its reference: a socket
	// expression with no key attribute, which google/nftables decodes as
	// key 0 (transparent) and parseRule rightly does not take.
	nokey, err := hex.DecodeString("d80004802c0030300b000100736f636b657400301c00028008000200000000010800303030303030080030303030303020003030160030303030303030303030303030303030303030303030000030300c00303008003030303030302c00303008000100636d700020000280080001000000000108003030303030300c00038005000100013030302c00303020003030303030303030303030303030303030303030303030303030303030300800303030303030240030302000303030303030303030303030303030303030303030303030303030303030")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(nokey)
	f.Add([]byte{4, 0, 4, 0x80})             // an empty nested expression list
	f.Add([]byte{8, 0, 4, 0x80, 4, 0, 1, 0}) // a list holding an empty element
	for _, p := range qg17Programs {
		b, _ := qg17Build("postern", "prerouting", p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseRule(b)
		if err != nil {
			return
		}
		table, chain, exprs, ok := qg17Decode(b)
		if !ok {
			// The library refuses attributes parseRule skips (an
			// expression that ends mid-attribute, say): nothing to
			// compare; TestQG17ParseRuleMalformed has such rules.
			return
		}
		want := qg17Want(exprs)
		want.table, want.chain = table, chain
		if got != want {
			t.Fatalf("parseRule(%x) = %+v, want %+v (expressions %s)", b, got, want, qg17Describe(exprs))
		}
	})
}

// FuzzRuleExprs builds rules from expressions google/nftables encodes
// (socket, cmp, immediate, meta, iptables match and target, counter and
// verdict, in any order and registers) and checks that parseRule finds
// exactly what the documented grammar says: the encoder is not ours, so a
// misread attribute number, byte order or register shows here.
func FuzzRuleExprs(f *testing.F) {
	f.Add("postern", "prerouting", []byte(nil))
	for _, p := range qg17Programs {
		f.Add("postern", "prerouting", p)
	}
	f.Fuzz(func(t *testing.T, table, chain string, prog []byte) {
		if strings.IndexByte(table, 0) >= 0 || strings.IndexByte(chain, 0) >= 0 {
			t.Skip("names with NUL bytes do not exist in nftables")
		}
		b, exprs := qg17Build(table, chain, prog)
		got, err := parseRule(b)
		if err != nil {
			t.Fatalf("parseRule(%s): %v", qg17Describe(exprs), err)
		}
		want := qg17Want(exprs)
		want.table, want.chain = table, chain
		if got != want {
			t.Fatalf("parseRule(%s) = %+v, want %+v", qg17Describe(exprs), got, want)
		}
	})
}

// qg17Programs are rules in qg17Build's encoding: the documented one, its
// iptables-nft form, and near misses (sf18: and their jumps and MARK
// values).
var qg17Programs = [][]byte{
	{0, 0, 0, 1, 0, 0, 0, 1, 2, 0, 1, 3, 0, 0, 0}, // socket transparent 1 meta mark set 1
	{4, 0, 5, 0}, // -m socket -j MARK
	{0, 0, 1, 1, 0, 1, 0, 1, 2, 2, 1, 3, 0, 0, 2},          // the same in registers 8 and 9
	{0, 0, 0, 1, 1, 0, 0, 0, 2, 0, 1, 3, 0, 0, 0},          // socket transparent != 0 meta mark set 1 (the same rule)
	{0, 0, 0, 1, 0, 0, 3, 1, 2, 0, 1, 3, 0, 0, 0},          // compared as 4 bytes
	{0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 1, 3, 0, 0, 0},          // socket transparent 0 meta mark set 1
	{0, 1, 0, 1, 0, 0, 0, 1, 2, 0, 1, 3, 0, 0, 0},          // socket mark 1 meta mark set 1
	{0, 0, 0, 1, 0, 0, 0, 1, 2, 0, 2, 3, 0, 0, 0},          // socket transparent 1 meta mark set 2
	{0, 0, 0, 2, 0, 1, 1, 0, 0, 0, 1, 2, 0, 1, 3, 0, 0, 0}, // the socket's register overwritten before its cmp
	{0, 0, 0, 1, 0, 0, 0, 1, 2, 0, 1, 3, 0, 1, 0},          // meta mark (a load, not a set)
	{2, 0, 1, 3, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 6, 7},    // meta mark set 1, then socket transparent 1, counter, accept
	{4, 0, 5, 0, 1},                // -m socket -j MARK --set-mark 2
	{4, 0, 5, 0, 2},                // -m socket -j MARK --or-mark 1
	{4, 0, 5, 0, 3},                // -j MARK with revision 0's info
	{4, 0, 6, 7, 1},                // -m socket, counter, jump divert
	{0, 0, 0, 1, 0, 0, 0, 1, 7, 2}, // socket transparent 1 goto divert
	{7, 1, 7, 0},                   // jump divert, then accept (the later verdict stands)
}

// qg17Regs are the registers qg17Build uses: NFT_REG_1 and two of the
// 32-bit ones.
var qg17Regs = []uint32{1, 8, 9}

// qg17Build encodes a rule of table and chain whose expressions prog
// describes, op by op (each op takes its bytes after it; missing bytes
// read as 0), with google/nftables' encoders, as the kernel would answer
// a dump of it.
func qg17Build(table, chain string, prog []byte) ([]byte, []expr.Any) {
	next := func() int {
		if len(prog) == 0 {
			return 0
		}
		v := int(prog[0])
		prog = prog[1:]
		return v
	}
	var exprs []expr.Any
	for len(prog) > 0 && len(exprs) < 16 {
		switch next() % 8 {
		case 0:
			keys := []expr.SocketKey{expr.SocketKeyTransparent, expr.SocketKeyMark, expr.SocketKeyWildcard}
			exprs = append(exprs, &expr.Socket{Key: keys[next()%len(keys)], Register: qg17Regs[next()%len(qg17Regs)]})
		case 1:
			ops := []expr.CmpOp{expr.CmpOpEq, expr.CmpOpNeq, expr.CmpOpGt}
			op := ops[next()%len(ops)]
			reg := qg17Regs[next()%len(qg17Regs)]
			data := make([]byte, 1+next()%4)
			data[0] = []byte{0, 1, 2, 6}[next()%4] // 6: TCP, for meta l4proto
			exprs = append(exprs, &expr.Cmp{Op: op, Register: reg, Data: data})
		case 2:
			reg := qg17Regs[next()%len(qg17Regs)]
			exprs = append(exprs, &expr.Immediate{Register: reg, Data: binaryutil.NativeEndian.PutUint32(uint32(next() % 3))})
		case 3:
			keys := []expr.MetaKey{expr.MetaKeyMARK, expr.MetaKeyIIF, expr.MetaKeyL4PROTO, expr.MetaKeyIIFNAME}
			key := keys[next()%len(keys)]
			exprs = append(exprs, &expr.Meta{Key: key, SourceRegister: next()%2 == 0, Register: qg17Regs[next()%len(qg17Regs)]})
		case 4:
			names := []string{"socket", "conntrack", "mark"}
			exprs = append(exprs, &expr.Match{Name: names[next()%len(names)], Rev: 3, Info: &xt.Unknown{1, 0}})
		case 5:
			names := []string{"MARK", "ACCEPT", "TPROXY", "REJECT", "CONNMARK"}
			name := names[next()%len(names)]
			// xt_mark_tginfo2 {mark, mask} in host order: --set-mark 1,
			// --set-mark 2, --or-mark 1; and a revision 0 info.
			ne := binary.NativeEndian.AppendUint32
			infos := []struct {
				rev  uint32
				info xt.Unknown
			}{
				{2, ne(ne(nil, 1), 0xffffffff)},
				{2, ne(ne(nil, 2), 0xffffffff)},
				{2, ne(ne(nil, 1), 1)},
				{0, ne(nil, 1)},
				// xt_tproxy_target_info_v1 {mask, value, laddr, lport}:
				// --tproxy-mark 1/1 --on-port 50080.
				{1, append(ne(ne(nil, 1), 1), make([]byte, 20)...)},
				// xt_connmark_tginfo2 {ctmark, ctmask, nfmask, shift_dir,
				// shift_bits, mode}: --set-mark 1, --restore-mark.
				{2, append(ne(ne(ne(nil, 1), 0xffffffff), 0xffffffff), 0, 0, 0, 0)},
				{2, append(ne(ne(ne(nil, 0), 0xffffffff), 0xffffffff), 0, 0, 2, 0)},
			}
			i := infos[next()%len(infos)]
			exprs = append(exprs, &expr.Target{Name: name, Rev: i.rev, Info: &i.info})
		case 6:
			exprs = append(exprs, &expr.Counter{})
		case 7:
			verdicts := []expr.Verdict{{Kind: expr.VerdictAccept}, {Kind: expr.VerdictJump, Chain: "divert"},
				{Kind: expr.VerdictGoto, Chain: "divert"}, {Kind: expr.VerdictDrop}, {Kind: expr.VerdictReturn}, {Kind: expr.VerdictBreak}}
			v := verdicts[next()%len(verdicts)]
			exprs = append(exprs, &v)
		}
	}
	var list []netlink.Attribute
	for _, e := range exprs {
		b, err := expr.Marshal(unix.NFPROTO_IPV4, e)
		if err != nil {
			panic(err) // every expression above encodes
		}
		list = append(list, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: b})
	}
	listBytes, err := netlink.MarshalAttributes(list)
	if err != nil {
		panic(err)
	}
	b, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(table + "\x00")},
		{Type: unix.NFTA_RULE_CHAIN, Data: []byte(chain + "\x00")},
		{Type: unix.NFTA_RULE_HANDLE, Data: binaryutil.BigEndian.PutUint64(2)},
		{Type: unix.NLA_F_NESTED | unix.NFTA_RULE_EXPRESSIONS, Data: listBytes},
	})
	if err != nil {
		panic(err)
	}
	return b, exprs
}

// qg17Decode decodes a rule with google/nftables' expression decoders
// (which this package's parser cannot use: the library reads rules only
// through its own netlink connection). ok is false when they refuse it.
func qg17Decode(b []byte) (table, chain string, exprs []expr.Any, ok bool) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return "", "", nil, false
	}
	ad.ByteOrder = binary.BigEndian
	ok = true
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RULE_TABLE:
			table = ad.String()
		case unix.NFTA_RULE_CHAIN:
			chain = ad.String()
		case unix.NFTA_RULE_EXPRESSIONS:
			exprs = nil
			ad.Nested(func(list *netlink.AttributeDecoder) error {
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
						var x expr.Any
						switch name {
						case "socket":
							// The library takes a missing key for 0,
							// transparent; parseRule (rightly) does not.
							if !qg17Has(data, nftaSocketKey) {
								ok = false
								return nil
							}
							x = &expr.Socket{}
						case "cmp":
							x = &expr.Cmp{}
						case "immediate":
							x = &expr.Immediate{}
							if err := expr.Unmarshal(unix.NFPROTO_IPV4, data, x); err != nil {
								ok = false
								return nil
							}
							// A verdict, as the library's rule decoder
							// tells them apart; its verdict decoder reads
							// fixed offsets, so only the kernel's layout
							// (code, then chain) is judged.
							if imm := x.(*expr.Immediate); imm.Register == unix.NFT_REG_VERDICT && len(imm.Data) == 0 {
								if !qg17CanonicalVerdict(data) {
									ok = false
									return nil
								}
								x = &expr.Verdict{}
							}
						case "meta":
							x = &expr.Meta{}
						case "match":
							x = &expr.Match{}
						case "target":
							x = &expr.Target{}
						case "counter", "log":
							return nil // nothing to the rule's meaning
						default:
							// parseRule takes any other expression for
							// a match it does not evaluate; the
							// reference above does not read them.
							ok = false
							return nil
						}
						if err := expr.Unmarshal(unix.NFPROTO_IPV4, data, x); err != nil {
							ok = false
							return nil
						}
						exprs = append(exprs, x)
						return nil
					})
				}
				return nil
			})
		}
	}
	return table, chain, exprs, ok && ad.Err() == nil
}

// qg17CanonicalVerdict reports whether immediate expression data b holds
// a verdict, and verdicts as the kernel writes them: each a 4-byte code, then, if
// any, one chain name ending in its only NUL (the library's decoder
// reads them at fixed offsets and panics on an empty verdict).
func qg17CanonicalVerdict(b []byte) bool {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return false
	}
	good, seen := true, false
	for ad.Next() {
		if ad.Type() != unix.NFTA_IMMEDIATE_DATA {
			continue
		}
		data, err := netlink.NewAttributeDecoder(ad.Bytes())
		if err != nil {
			return false
		}
		for data.Next() {
			if data.Type() != unix.NFTA_DATA_VERDICT {
				continue
			}
			raw := data.Bytes()
			v, err := netlink.NewAttributeDecoder(raw)
			if err != nil {
				return false
			}
			i := 0
			for ; v.Next(); i++ {
				switch {
				case i == 0 && v.Type() == unix.NFTA_VERDICT_CODE && len(v.Bytes()) == 4:
				case i == 1 && v.Type() == unix.NFTA_VERDICT_CHAIN && len(v.Bytes()) > 0 && bytes.IndexByte(v.Bytes(), 0) == len(v.Bytes())-1 &&
					len(raw) > 12 && bytes.Equal(bytes.Trim(raw[12:], "\x00"), v.Bytes()[:len(v.Bytes())-1]):
					// (and its padding zeros: the library reads past it)
				default:
					good = false
				}
			}
			good = good && i > 0 && v.Err() == nil
			seen = true
		}
		good = good && data.Err() == nil
	}
	// (an immediate without a verdict at all the library reads as drop;
	// parseRule, as no verdict)
	return good && seen && ad.Err() == nil
}

// qg17Has reports whether attributes b hold one of type typ.
func qg17Has(b []byte, typ uint16) bool {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return false
	}
	for ad.Next() {
		if ad.Type() == typ {
			return true
		}
	}
	return false
}

// qg17Want evaluates a rule's expressions by the documented grammar, in
// order as the kernel runs them (the first verdict ends the rule), for a
// packet coming back to a transparent socket, following what each 32-bit
// register holds (NFT_REG_1 is NFT_REG32_00 to 03): socket is a "socket
// transparent" load compared equal to 1 (in 1 to 4 bytes), iptables'
// socket match, or a TPROXY target before any other match; a comparison
// of that load with 0 means the rule never applies; mark is the last mark
// the rule sets being 1 ("meta mark set" from a register holding the
// immediate 1, or iptables' MARK target revision 2 setting value 1, or
// TPROXY's mark 1) unless it drops the packet; cond is a match other than
// those or "meta l4proto tcp" before the verdict; verdict and jump are
// the first verdict's.
func qg17Want(exprs []expr.Any) rule {
	const (
		one = 1 + iota
		transparentBit
		l4proto
	)
	const markRestored = 2
	var regs [20]int
	at := func(reg uint32) int {
		switch {
		case reg <= 4:
			return int(reg) * 4
		case reg >= 8 && reg <= 23:
			return int(reg) - 4
		}
		return -1
	}
	write := func(reg uint32, n, kind int) {
		i := at(reg)
		if i < 0 || n <= 0 {
			return
		}
		for j := i; j < i+n && j < len(regs); j++ {
			regs[j] = 0
		}
		regs[i] = kind
	}
	read := func(reg uint32) int {
		if i := at(reg); i >= 0 {
			return regs[i]
		}
		return 0
	}
	var r rule
	mark := 0
	setMark := func(v int) {
		if v > 0 || !r.cond {
			mark = v
		}
	}
loop:
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Socket:
			if e.Key > 2 {
				regs = [20]int{}
				break
			}
			kind := 0
			if e.Key == expr.SocketKeyTransparent {
				kind = transparentBit
			}
			write(e.Register, 1, kind)
		case *expr.Cmp:
			small := len(e.Data) >= 1 && len(e.Data) <= 4 && strings.Trim(string(e.Data[1:]), "\x00") == ""
			kind := read(e.Register)
			switch {
			case kind == transparentBit && small && (e.Op == expr.CmpOpEq && e.Data[0] == 1 || e.Op == expr.CmpOpNeq && e.Data[0] == 0):
				r.socket = true
			case kind == transparentBit && small && (e.Op == expr.CmpOpEq && e.Data[0] == 0 || e.Op == expr.CmpOpNeq && e.Data[0] == 1):
				return rule{cond: true}
			case kind == l4proto && small && e.Op == expr.CmpOpEq && e.Data[0] == 6:
			default:
				r.cond = true
			}
		case *expr.Immediate:
			kind := 0
			if len(e.Data) == 4 && binary.NativeEndian.Uint32(e.Data) == 1 {
				kind = one
			}
			write(e.Register, (len(e.Data)+3)/4, kind)
		case *expr.Meta:
			switch {
			case e.SourceRegister && e.Key == expr.MetaKeyMARK && read(e.Register) == one:
				setMark(1)
			case e.SourceRegister && e.Key == expr.MetaKeyMARK:
				setMark(-1)
			case e.SourceRegister:
			case e.Key == expr.MetaKeyL4PROTO:
				write(e.Register, 1, l4proto)
			case e.Key <= expr.MetaKeyL4PROTO && e.Key != expr.MetaKeyIIFNAME && e.Key != expr.MetaKeyOIFNAME:
				write(e.Register, 1, 0)
			default:
				regs = [20]int{}
			}
		case *expr.Match:
			if strings.TrimRight(e.Name, "\x00") == "socket" {
				r.socket = true
			} else {
				r.cond = true
			}
		case *expr.Target:
			info, _ := e.Info.(*xt.Unknown)
			switch strings.TrimRight(e.Name, "\x00") {
			case "MARK":
				if e.Rev == 2 && info != nil && len(*info) == 8 && binary.NativeEndian.Uint32((*info)[:4]) == 1 {
					setMark(1)
				} else {
					setMark(-1)
				}
			case "TPROXY":
				if !r.cond && e.Rev <= 1 && info != nil && len(*info) >= 8 {
					r.socket = true
					if binary.NativeEndian.Uint32((*info)[4:8]) == 1 {
						setMark(1)
					}
				}
				r.verdict = verdictEnd
				break loop
			case "CONNMARK":
				if info == nil || len(*info) < 13 {
					break
				}
				in := *info
				switch ctmask := binary.NativeEndian.Uint32(in[4:8]); {
				case e.Rev == 1 && in[12] == 0 || e.Rev == 2 && len(in) >= 15 && in[14] == 0:
					r.ctMark = r.ctMark || binary.NativeEndian.Uint32(in[:4]) == 1
				case (e.Rev == 1 && in[12] == 2 || e.Rev == 2 && len(in) >= 15 && in[14] == 2 && in[13] == 0) && ctmask&1 == 1:
					setMark(markRestored)
				}
			case "REJECT":
				r.verdict = verdictDrop
				break loop
			case "CT":
				if !r.cond && e.Rev <= 2 && info != nil && len(*info) >= 2 && binary.NativeEndian.Uint16((*info)[:2])&1 == 1 {
					r.notrack = true
				}
			}
		case *expr.Verdict:
			switch {
			case e.Kind == expr.VerdictJump:
				r.verdict, r.jump = verdictJump, e.Chain
			case e.Kind == expr.VerdictGoto:
				r.verdict, r.jump = verdictGoto, e.Chain
			case e.Kind == expr.VerdictReturn:
				r.verdict = verdictReturn
			case e.Kind == expr.VerdictBreak:
			case e.Kind < 0:
				continue
			case e.Kind&0xff == 0:
				r.verdict = verdictDrop
			default:
				r.verdict = verdictEnd
			}
			break loop
		}
	}
	r.mark = mark == 1 && r.verdict != verdictDrop
	r.restore = mark == markRestored && r.verdict != verdictDrop
	return r
}

// qg17Describe writes expressions for a failure message.
func qg17Describe(exprs []expr.Any) string {
	var s []string
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Socket:
			s = append(s, "socket key "+itoa(uint32(e.Key))+" > reg "+itoa(e.Register))
		case *expr.Cmp:
			s = append(s, "cmp op "+itoa(uint32(e.Op))+" reg "+itoa(e.Register)+" "+hex.EncodeToString(e.Data))
		case *expr.Immediate:
			s = append(s, "immediate "+hex.EncodeToString(e.Data)+" > reg "+itoa(e.Register))
		case *expr.Meta:
			dir := " > reg "
			if e.SourceRegister {
				dir = " set from reg "
			}
			s = append(s, "meta key "+itoa(uint32(e.Key))+dir+itoa(e.Register))
		case *expr.Match:
			s = append(s, "match "+e.Name)
		case *expr.Target:
			info := ""
			if u, ok := e.Info.(*xt.Unknown); ok {
				info = " " + hex.EncodeToString(*u)
			}
			s = append(s, "target "+e.Name+" rev "+itoa(e.Rev)+info)
		case *expr.Verdict:
			s = append(s, "verdict "+strconv.FormatInt(int64(e.Kind), 10)+" "+e.Chain)
		default:
			s = append(s, "other")
		}
	}
	return "[" + strings.Join(s, "; ") + "]"
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// TestQG17ParseRuleMalformed gives parseRule rules google/nftables would
// not encode (and FuzzParseRule therefore cannot judge): none may pass
// for the marking rule.
func TestQG17ParseRuleMalformed(t *testing.T) {
	u32 := binaryutil.BigEndian.PutUint32
	nested := func(attrs ...netlink.Attribute) []byte {
		b, err := netlink.MarshalAttributes(attrs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one := func(typ uint16, v []byte) netlink.Attribute { return netlink.Attribute{Type: typ, Data: v} }
	e := func(name string, data []byte) netlink.Attribute {
		return one(unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM, nested(one(unix.NFTA_EXPR_NAME, []byte(name+"\x00")),
			one(unix.NLA_F_NESTED|unix.NFTA_EXPR_DATA, data)))
	}
	cmp1 := e("cmp", nested(one(nftaCmpSreg, u32(1)), one(nftaCmpOp, u32(nftCmpEq)),
		one(unix.NLA_F_NESTED|nftaCmpData, nested(one(nftaDataValue, []byte{1})))))
	mark1 := []netlink.Attribute{
		e("immediate", nested(one(nftaImmDreg, u32(1)), one(unix.NLA_F_NESTED|nftaImmData, nested(one(nftaDataValue, binaryutil.NativeEndian.PutUint32(1)))))),
		e("meta", nested(one(nftaMetaKey, u32(nftMetaMark)), one(nftaMetaSreg, u32(1)))),
	}
	tests := []struct {
		name  string
		exprs []netlink.Attribute
		want  rule
	}{
		{"documented", append([]netlink.Attribute{e("socket", nested(one(nftaSocketKey, u32(nftSocketTransp)), one(nftaSocketDreg, u32(1)))), cmp1}, mark1...),
			rule{socket: true, mark: true}},
		{"socket without a key", append([]netlink.Attribute{e("socket", nested(one(nftaSocketDreg, u32(1)))), cmp1}, mark1...),
			rule{mark: true, cond: true}},
		{"socket key cut short", append([]netlink.Attribute{e("socket", append(nested(one(nftaSocketDreg, u32(1))), 8, 0, 1, 0, 0))}, cmp1),
			rule{cond: true}},
		{"socket without its cmp", append([]netlink.Attribute{e("socket", nested(one(nftaSocketKey, u32(nftSocketTransp)), one(nftaSocketDreg, u32(1))))}, mark1...),
			rule{mark: true}},
		{"meta mark set without an immediate", []netlink.Attribute{mark1[1]}, rule{}},
		{"cmp data not nested", []netlink.Attribute{e("socket", nested(one(nftaSocketKey, u32(nftSocketTransp)), one(nftaSocketDreg, u32(1)))),
			e("cmp", nested(one(nftaCmpSreg, u32(1)), one(nftaCmpOp, u32(nftCmpEq)), one(nftaCmpData, []byte{1, 0, 0, 0})))}, rule{cond: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := nested(one(unix.NLA_F_NESTED|unix.NFTA_RULE_EXPRESSIONS, nested(tc.exprs...)))
			got, _ := parseRule(b)
			if got != tc.want {
				t.Fatalf("parseRule = %+v, want %+v", got, tc.want)
			}
		})
	}
}
