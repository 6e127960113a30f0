//go:build linux

package transparent_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent/transparent"
	"github.com/postern/postern/internal/testutil/netns"
)

// sd19Truth sets up an agent's host in a fresh namespace (a cable to an
// instance in a second one, the README's policy routing, then rules, run
// with sh -ec), runs Check there, and opens a real transparent connection
// from an address the host does not have (203.0.113.5) to a listener on
// the instance, which routes the client's addresses back to the agent: it
// opens only if the host delivers the answers to the agent's socket.
func sd19Truth(t *testing.T, rules string) (checkErr, dialErr error) {
	t.Helper()
	agent, inst := netns.New(t, "sd19agt"), netns.New(t, "sd19ins")
	sh := func(n *netns.NS, cmds ...string) {
		t.Helper()
		for _, c := range cmds {
			if out, err := n.Command(context.Background(), "sh", "-ec", c).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", c, err, out)
			}
		}
	}
	sh(agent, "ip link add a0 type veth peer name b0 netns "+inst.Name,
		"ip addr add 10.99.0.1/30 dev a0", "ip link set a0 up",
		"ip rule add fwmark 1 lookup 100", "ip route add local 0.0.0.0/0 dev lo table 100", rules)
	sh(inst, "ip addr add 10.99.0.2/30 dev b0", "ip link set b0 up", "ip route add 203.0.113.0/24 via 10.99.0.1")
	ln := inst.Listen(t, "tcp4", "10.99.0.2:0")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if err := agent.Do(func() error {
		checkErr = transparent.Check()
		// The deadline only ends a connection that cannot open (its
		// SYN-ACK is not delivered, or is dropped); one that can opens at
		// once.
		d := net.Dialer{Control: transparent.Control, LocalAddr: &net.TCPAddr{IP: net.IPv4(203, 0, 113, 5)}, Timeout: 3 * time.Second}
		c, err := d.Dial("tcp4", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		dialErr = err
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return checkErr, dialErr
}

// sd19WantTruth runs sd19Truth on rules and checks that the transparent
// connection opens when works says it should (else the case is wrong,
// not the check), and that Check agrees: nil when it opens, exactly the
// marking rule missing when it does not.
func sd19WantTruth(t *testing.T, rules string, works bool) {
	t.Helper()
	checkErr, dialErr := sd19Truth(t, rules)
	if opened := dialErr == nil; opened != works {
		t.Fatalf("transparent connection: %v, want it to open: %v (the case is wrong, not the check)", dialErr, works)
	}
	if works {
		if checkErr != nil {
			t.Fatalf("Check: %v, want nil (the transparent connection opens)", checkErr)
		}
		return
	}
	var me *transparent.MissingError
	if !errors.As(checkErr, &me) || len(me.Items) != 1 || !strings.Contains(me.Items[0], "socket transparent 1 meta mark set 1") {
		t.Fatalf("Check: %v, want exactly the marking rule missing (the transparent connection does not open)", checkErr)
	}
}

// TestSD19Truth: rule sets where the check read the marking rule wrongly,
// each with a real transparent connection that shows what the kernel
// does, and Check must agree with it.
//
// Read "set up" before (the broken setups an operator was told were
// fine): a return, accept or drop that every such packet meets before the
// marking rule (in a chain jumped to, or in the base chain); a rule that
// sets mark 1 and then another mark; a mark set from a register that an
// expression the check did not follow had overwritten after the immediate
// 1 (the stale register: ct mark, a map). Read "missing" before (working
// setups): iptables' TPROXY target with --tproxy-mark 1 and nft's tproxy
// followed by "meta mark set 1", neither behind a port match; the
// connection's mark set to 1 (ct mark set 1, CONNMARK --set-mark 1) on the
// way out or on the way in, and restored to the answers (meta mark set ct
// mark, CONNMARK --restore-mark).
func TestSD19Truth(t *testing.T) {
	sf18NeedRealTools(t)
	const nftDivert = "nft add table ip t; nft add chain ip t pre '{ type filter hook prerouting priority mangle; }'; nft add chain ip t divert; "
	const iptDivert = "iptables -t mangle -N DIVERT; iptables -t mangle -A PREROUTING -p tcp -m socket -j DIVERT; "
	const nftPre = "nft add table ip t; nft add chain ip t pre '{ type filter hook prerouting priority mangle; }'; "
	tests := []struct {
		name  string
		rules string
		works bool
	}{
		// The verdicts before the mark.
		{"nft return before the mark", nftDivert + "nft add rule ip t divert return; nft add rule ip t divert meta mark set 1; " +
			"nft add rule ip t pre socket transparent 1 jump divert", false},
		{"nft return for another address before the mark", nftDivert + "nft add rule ip t divert ip saddr 198.51.100.7 return; nft add rule ip t divert meta mark set 1; " +
			"nft add rule ip t pre socket transparent 1 jump divert", true},
		{"iptables DIVERT accepting before the mark", iptDivert + "iptables -t mangle -A DIVERT -j ACCEPT; iptables -t mangle -A DIVERT -j MARK --set-mark 1", false},
		{"iptables DIVERT returning before the mark", iptDivert + "iptables -t mangle -A DIVERT -j RETURN; iptables -t mangle -A DIVERT -j MARK --set-mark 1", false},
		{"iptables DIVERT, then the recipe's accept", iptDivert + "iptables -t mangle -A DIVERT -j MARK --set-mark 1; iptables -t mangle -A DIVERT -j ACCEPT", true},
		{"nft socket transparent 1 accept before the marking rule", nftPre + "nft add rule ip t pre socket transparent 1 accept; " +
			"nft add rule ip t pre socket transparent 1 meta mark set 1", false},
		{"nft jump to a chain that accepts, then the marking rule", nftDivert + "nft add rule ip t divert accept; " +
			"nft add rule ip t pre jump divert; nft add rule ip t pre socket transparent 1 meta mark set 1", false},
		{"nft jump to a chain that returns, then the marking rule", nftDivert + "nft add rule ip t divert return; " +
			"nft add rule ip t pre jump divert; nft add rule ip t pre socket transparent 1 meta mark set 1", true},
		{"nft goto, then the marking rule", nftDivert + "nft add rule ip t divert counter; " +
			"nft add rule ip t pre goto divert; nft add rule ip t pre socket transparent 1 meta mark set 1", false},
		// Marks set again.
		{"nft mark 1, then 2, in one rule", nftPre + "nft add rule ip t pre socket transparent 1 meta mark set 1 meta mark set 2", false},
		{"nft mark 2, then 1, in one rule", nftPre + "nft add rule ip t pre socket transparent 1 meta mark set 2 meta mark set 1", true},
		// Stale registers.
		{"nft mark from ct mark xor 1 after the immediate 1", nftPre + "nft add rule ip t pre socket transparent 1 ct mark set 1 meta mark set ct mark xor 1", false},
		{"nft mark from a map after the immediate 1", nftPre + "nft add rule ip t pre socket transparent 1 ct mark set 1 meta mark set ip saddr map { 10.99.0.2 : 2 }", false},
		// TPROXY.
		{"iptables TPROXY --tproxy-mark 1", "iptables -t mangle -A PREROUTING -p tcp -j TPROXY --on-port 50080 --tproxy-mark 1", true},
		{"iptables TPROXY --tproxy-mark 0x1/0x1", "iptables -t mangle -A PREROUTING -p tcp -j TPROXY --on-port 50080 --tproxy-mark 0x1/0x1", true},
		{"iptables TPROXY --tproxy-mark 2", "iptables -t mangle -A PREROUTING -p tcp -j TPROXY --on-port 50080 --tproxy-mark 2", false},
		{"iptables TPROXY for port 80 only", "iptables -t mangle -A PREROUTING -p tcp --dport 80 -j TPROXY --on-port 50080 --tproxy-mark 1", false},
		{"nft tproxy, meta mark set 1", nftPre + "nft add rule ip t pre meta l4proto tcp tproxy to :50080 meta mark set 1 accept", true},
		{"nft tproxy for port 80 only", nftPre + "nft add rule ip t pre tcp dport 80 tproxy to :50080 meta mark set 1 accept", false},
		// The connection's mark, restored.
		{"iptables CONNMARK --set-mark 1, then --restore-mark", "iptables -t mangle -A PREROUTING -m socket --transparent -j CONNMARK --set-mark 1; " +
			"iptables -t mangle -A PREROUTING -j CONNMARK --restore-mark", true},
		{"iptables CONNMARK --restore-mark, then --set-mark 1", "iptables -t mangle -A PREROUTING -j CONNMARK --restore-mark; " +
			"iptables -t mangle -A PREROUTING -m socket --transparent -j CONNMARK --set-mark 1", true},
		{"iptables OUTPUT CONNMARK --set-mark 1, PREROUTING --restore-mark", "iptables -t mangle -A OUTPUT -s 203.0.113.0/24 -j CONNMARK --set-mark 1; " +
			"iptables -t mangle -A PREROUTING -j CONNMARK --restore-mark", true},
		{"iptables CONNMARK --restore-mark alone", "iptables -t mangle -A PREROUTING -j CONNMARK --restore-mark", false},
		{"iptables CONNMARK --set-mark 2, then --restore-mark", "iptables -t mangle -A PREROUTING -m socket --transparent -j CONNMARK --set-mark 2; " +
			"iptables -t mangle -A PREROUTING -j CONNMARK --restore-mark", false},
		{"nft ct mark set 1, then meta mark set ct mark", nftPre + "nft add rule ip t pre socket transparent 1 ct mark set 1; nft add rule ip t pre meta mark set ct mark", true},
		{"nft ct mark set 1 meta mark set ct mark, one rule", nftPre + "nft add rule ip t pre socket transparent 1 ct mark set 1 meta mark set ct mark", true},
		{"nft output ct mark set 1, prerouting meta mark set ct mark", nftPre + "nft add chain ip t out '{ type route hook output priority mangle; }'; " +
			"nft add rule ip t out ip saddr 203.0.113.0/24 ct mark set 1; nft add rule ip t pre meta mark set ct mark", true},
		// Maps.
		{"nft mark from an anonymous map, tcp : 1", nftPre + "nft add rule ip t pre socket transparent 1 meta mark set meta l4proto map { tcp : 1 }", true},
		{"nft mark from an anonymous map, udp : 1", nftPre + "nft add rule ip t pre socket transparent 1 meta mark set meta l4proto map { udp : 1, tcp : 2 }", false},
		{"nft mark from a named map", nftPre + "nft add map ip t m '{ type ipv4_addr : mark; }'; nft add element ip t m '{ 10.99.0.2 : 1 }'; " +
			"nft add rule ip t pre socket transparent 1 meta mark set ip saddr map @m", true},
		{"nft verdict map jumping to the marking chain", nftDivert + "nft add rule ip t divert meta mark set 1; " +
			"nft add rule ip t pre socket transparent 1 meta l4proto vmap { tcp : jump divert }", true},
		{"nft named verdict map going to the marking chain", nftDivert + "nft add rule ip t divert meta mark set 1; " +
			"nft add map ip t vm '{ type ipv4_addr : verdict; }'; nft add element ip t vm '{ 10.99.0.2 : goto divert }'; " +
			"nft add rule ip t pre socket transparent 1 ip saddr vmap @vm", true},
		{"nft verdict map jumping to the marking chain for udp only", nftDivert + "nft add rule ip t divert meta mark set 1; " +
			"nft add rule ip t pre socket transparent 1 meta l4proto vmap { udp : jump divert }", false},
		{"nft output ct mark set 1 in a dormant table", "nft add table ip o; nft add chain ip o out '{ type route hook output priority mangle; }'; " +
			"nft add rule ip o out ct mark set 1; nft add table ip o '{ flags dormant; }'; " + nftPre + "nft add rule ip t pre meta mark set ct mark", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each case has its own namespaces
			sd19WantTruth(t, tc.rules, tc.works)
		})
	}
}
