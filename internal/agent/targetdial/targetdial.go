// Package targetdial is how an endpoint agent connects a tunnel's target:
// it checks the dial request and the target against the agent's egress
// policy, dials with the request's timeout, and words a failure as the
// tunnel protocol's result code and message for the client. A remote agent
// (package agent) and the server's embedded agent (package relay) both dial
// through it, so they refuse and fail alike.
package targetdial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/postern/postern/internal/agent/egress"
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
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		code, msg := dialFailure(err, target)
		return nil, tunnelproto.DialResult{Code: code, Message: msg}
	}
	return conn, tunnelproto.DialResult{OK: true}
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
