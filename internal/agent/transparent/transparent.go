// Package transparent lets an endpoint agent connect to a target from the
// client's address instead of its own (client IP preservation), and
// checks that its host is set up for it.
//
// On Linux the agent's socket gets IP_TRANSPARENT (which needs the
// CAP_NET_ADMIN capability) and binds the client's address. The target
// answers the client's address, so its route back to the client must go
// through the agent's host, and that host must deliver those answers to
// the agent instead of forwarding them: a firewall rule marks the packets
// that belong to a transparent socket, and a policy routing rule sends
// marked packets to a table whose only route is "local":
//
//	ip rule add fwmark 1 lookup 100
//	ip route add local 0.0.0.0/0 dev lo table 100
//	nft add table ip postern
//	nft add chain ip postern prerouting '{ type filter hook prerouting priority mangle; }'
//	nft add rule ip postern prerouting socket transparent 1 meta mark set 1
//
// (or, with iptables-nft: iptables -t mangle -A PREROUTING -m socket
// --transparent -j MARK --set-mark 1). The marking may also happen in a
// chain a prerouting rule jumps or goes to, as in the kernel's tproxy
// documentation (-m socket -j DIVERT; -A DIVERT -j MARK --set-mark 1),
// through a TPROXY target with --tproxy-mark 1, from a map, or from the
// connection's mark (CONNMARK --restore-mark, meta mark set ct mark) once
// a rule sets that to 1; a verdict every such packet meets first (accept,
// drop, return) leaves the marking rule unreached.
// Check verifies each piece and says which is missing.
package transparent

import (
	"strconv"
	"strings"
)

// Commands are the commands that set a host up, in order, as Check words
// them.
var Commands = []string{
	"ip rule add fwmark 1 lookup 100",
	"ip route add local 0.0.0.0/0 dev lo table 100",
	"nft add table ip postern",
	"nft add chain ip postern prerouting '{ type filter hook prerouting priority mangle; }'",
	"nft add rule ip postern prerouting socket transparent 1 meta mark set 1",
}

// MissingError says what this host lacks for client IP preservation.
type MissingError struct {
	// Items are the missing pieces, each with what to do about it.
	Items []string
}

func (e *MissingError) Error() string {
	return "client IP preservation is unavailable on this host: missing " + strings.Join(e.Items, "; ")
}

// Missing items, as Check words them.
const (
	missingCapability = "the CAP_NET_ADMIN capability to open transparent sockets (run the agent as root, or with AmbientCapabilities=CAP_NET_ADMIN in its systemd unit)"
	missingRule       = "the policy routing rule for marked packets (ip rule add fwmark 1 lookup 100)"
	missingMark       = "the firewall rule that marks packets of transparent sockets (nft add table ip postern; nft add chain ip postern prerouting '{ type filter hook prerouting priority mangle; }'; nft add rule ip postern prerouting socket transparent 1 meta mark set 1)"
)

func missingLocalRoute(table int) string {
	return "the local route for marked packets (ip route add local 0.0.0.0/0 dev lo table " + strconv.Itoa(table) + ")"
}
