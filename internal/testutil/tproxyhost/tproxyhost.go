//go:build linux

// Package tproxyhost sets a test's network namespace up as the host of an
// endpoint agent that preserves client addresses (package
// internal/agent/transparent): the policy routing rule, the local route,
// and the nftables rule marking packets of transparent sockets, each
// separately so that a test can leave one out. Only namespaces the test
// made are changed (never the host's own), and they go with the namespace.
package tproxyhost

import (
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/postern/postern/internal/testutil/netns"
)

// Piece is one part of the set-up.
type Piece int

// The pieces.
const (
	Rule  Piece = 1 << iota // ip rule add fwmark 1 lookup 100
	Route                   // ip route add local 0.0.0.0/0 dev lo table 100
	Mark                    // nft: socket transparent 1 meta mark set 1 in prerouting
	All   = Rule | Route | Mark
)

// Setup installs the pieces in n, which must be a namespace the test
// made.
func Setup(t testing.TB, n *netns.NS, pieces Piece) {
	t.Helper()
	if n == nil {
		t.Fatal("tproxyhost: refusing to change the host's own namespace")
	}
	if pieces&Rule != 0 {
		n.IP(t, "rule", "add", "fwmark", "1", "lookup", "100")
	}
	if pieces&Route != 0 {
		n.IP(t, "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100")
	}
	if pieces&Mark != 0 {
		if err := n.Do(addMarkRule); err != nil {
			t.Fatalf("tproxyhost: nftables rule in %s: %v", n, err)
		}
	}
}

// addMarkRule is
//
//	nft add table ip postern
//	nft add chain ip postern prerouting '{ type filter hook prerouting priority mangle; }'
//	nft add rule ip postern prerouting socket transparent 1 meta mark set 1
func addMarkRule() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	tab := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "postern"})
	ch := c.AddChain(&nftables.Chain{Name: "prerouting", Table: tab, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle})
	c.AddRule(&nftables.Rule{Table: tab, Chain: ch, Exprs: []expr.Any{
		&expr.Socket{Key: expr.SocketKeyTransparent, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{1}},
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(1)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}})
	return c.Flush()
}
