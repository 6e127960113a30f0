//go:build !linux

package frontdoor

import "net"

// canWatchGone: no way here to see a client's FIN behind the bytes it sent
// without reading them (Linux: POLLRDHUP); a client that leaves while its
// dial runs is noticed when its tunnel first reads.
const canWatchGone = false

func waitPeerGone(net.Conn) error { return nil }

func peerGone(net.Conn) error { return nil }
