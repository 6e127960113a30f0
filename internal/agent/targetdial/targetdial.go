// Package targetdial is how an endpoint agent connects a tunnel's target:
// it checks the dial request and the target against the agent's egress
// policy, dials with the request's timeout, and words a failure as the
// tunnel protocol's result code and message for the client. When the
// request asks for it, it connects from the client's address (package
// transparent) and writes a PROXY protocol v2 header (the library
// github.com/pires/go-proxyproto) before the tunnel's first byte. A remote agent
// (package agent) and the server's embedded agent (package relay) both dial
// through it, so they refuse and fail alike.
package targetdial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/postern/postern/internal/agent/egress"
	"github.com/postern/postern/internal/agent/transparent"
	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// Dial checks a dial request against the egress policy and
// connects its target. On failure the connection is nil and the result
// says why.
func Dial(ctx context.Context, policy egress.Policy, req tunnelproto.DialRequest, timeout time.Duration) (net.Conn, tunnelproto.DialResult) {
	if err := req.Validate(); err != nil {
		return nil, tunnelproto.DialResult{Code: tunnelproto.CodeBadRequest, Message: err.Error()}
	}
	addr, err := netip.ParseAddr(req.Address)
	if err != nil {
		return nil, tunnelproto.DialResult{Code: tunnelproto.CodeBadRequest, Message: fmt.Sprintf("%q is not an IP address", req.Address)}
	}
	if err := policy.Check(addr); err != nil {
		return nil, tunnelproto.DialResult{Code: tunnelproto.CodeNotAllowed, Message: "The endpoint agent may not connect there: " + err.Error()}
	}
	if req.TimeoutMillis > 0 {
		timeout = min(timeout, time.Duration(req.TimeoutMillis)*time.Millisecond)
	}
	target := netip.AddrPortFrom(addr, uint16(req.Port)).String()
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	var client netip.AddrPort
	if req.PreserveClientIP || req.ProxyProtocol != "" {
		client, _ = req.ClientAddrPort() // Validate checked it
	}
	if req.PreserveClientIP {
		// The client's address, not its port: the port is the client
		// host's, and may be taken on this one.
		if client.Addr().Is4() != addr.Is4() {
			return nil, tunnelproto.DialResult{Code: tunnelproto.CodePreserveUnavailable, Message: fmt.Sprintf(
				"The client's address %s and the target %s are of different IP versions, so the target cannot see the client's address; connect to the server over IPv%s.",
				client.Addr(), addr, map[bool]string{true: "4", false: "6"}[addr.Is4()])}
		}
		if why := forgeable(policy, client.Addr()); why != "" {
			return nil, tunnelproto.DialResult{Code: tunnelproto.CodePreserveUnavailable, Message: fmt.Sprintf(
				"The endpoint agent does not connect from the client's address %s: %s.", client.Addr(), why)}
		}
		d.LocalAddr = &net.TCPAddr{IP: client.Addr().AsSlice()}
		d.Control = transparent.Control
	}
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		if req.PreserveClientIP && isPermission(err) {
			return nil, tunnelproto.DialResult{Code: tunnelproto.CodePreserveUnavailable, Message: fmt.Sprintf(
				"The endpoint agent could not connect from the client's address %s: %v", client.Addr(), err)}
		}
		code, msg := dialFailure(err, target)
		return nil, tunnelproto.DialResult{Code: code, Message: msg}
	}
	if req.ProxyProtocol == tunnelproto.ProxyV2 {
		if res := sendProxyHeader(conn, client, target, timeout); !res.OK {
			return nil, res
		}
	}
	return conn, tunnelproto.DialResult{OK: true}
}

// sendProxyHeader writes the PROXY protocol v2 header to the connected
// target, closing conn when it cannot. Such a failure is the dial's
// (CodeProxyHeaderFailed: no byte of the tunnel flowed), not TargetError,
// which ends an open tunnel: the server and the console's terminal tell
// a dial's failure as a refusal and an end as a session that ended.
func sendProxyHeader(conn net.Conn, client netip.AddrPort, target string, timeout time.Duration) tunnelproto.DialResult {
	if err := writeProxyHeader(conn, client, timeout); err != nil {
		conn.Close()
		return tunnelproto.DialResult{Code: tunnelproto.CodeProxyHeaderFailed, Message: fmt.Sprintf("Could not send the PROXY protocol header to %s: %v", target, err)}
	}
	return tunnelproto.DialResult{OK: true}
}

// forgeable says why the agent must not connect from a claimed client
// address ("" when it may): only unicast addresses outside the VPC and
// other than the agent's own, so that a preserved source can never pose
// as a machine of the network the targets trust (nor would the target's
// answer to such an address come back through the agent).
func forgeable(p egress.Policy, a netip.Addr) string {
	switch {
	case !a.IsGlobalUnicast() || a.IsLinkLocalUnicast():
		return "it is not a unicast address"
	case egress.IsMetadata(a):
		return "it is an instance metadata address"
	case slices.Contains(p.HostAddrs, a):
		return "it is the agent host's own address"
	case slices.ContainsFunc(p.VPC, func(n netip.Prefix) bool { return n.Contains(a) }):
		return "it is inside the endpoint's VPC, whose machines the target reaches directly"
	}
	return ""
}

// writeProxyHeader writes a PROXY protocol v2 header (the client's
// address and port → the target's) before any byte of the tunnel.
func writeProxyHeader(conn net.Conn, client netip.AddrPort, timeout time.Duration) error {
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(client), conn.RemoteAddr())
	if h.Command != proxyproto.PROXY {
		return fmt.Errorf("no PROXY header for %s → %s", client, conn.RemoteAddr())
	}
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := h.WriteTo(conn)
	_ = conn.SetWriteDeadline(time.Time{})
	return err
}

// isPermission reports whether a dial failed for want of privilege (the
// transparent socket).
func isPermission(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EADDRNOTAVAIL)
}

// dialFailure words a failed dial for the client.
func dialFailure(err error, target string) (code, msg string) {
	switch netutil.Classify(err) {
	case netutil.KindRefused:
		return tunnelproto.CodeRefused, "Connection refused by " + target
	case netutil.KindTimeout:
		return tunnelproto.CodeTimeout, "Timed out connecting to " + target
	case netutil.KindUnreachable:
		return tunnelproto.CodeUnreachable, target + " is unreachable from the endpoint agent"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return tunnelproto.CodeUnreachable, fmt.Sprintf("Could not connect to %s: %v", target, oe.Err)
	}
	return tunnelproto.CodeUnreachable, fmt.Sprintf("Could not connect to %s: %v", target, err)
}
