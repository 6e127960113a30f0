package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent/egress"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestLocalOpenAfterCloseAllEndsAtOnce: an open on the embedded agent
// that registers its stream after closeAll (revocation, shutdown)
// collected the others — it chose the agent before, or its dial was
// running meanwhile — ends at once with closeAll's reason, and the
// target's connection closes without a byte; before, such a stream
// carried the tunnel on (a CI run: "the tunnel carried bytes after agent
// revoked between its checks and its listing").
func TestLocalOpenAfterCloseAllEndsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(make([]byte, 1))
		if n > 0 {
			err = errors.New("the target read a byte")
		} else if errors.Is(err, io.EOF) {
			err = nil
		}
		got <- err
	}()
	a := &localAgent{policy: egress.Policy{AllowLoopback: true, AllowHost: true, VPC: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, dialTimeout: 5 * time.Second, streams: map[*localStream]struct{}{}}
	const why = "Access was revoked: the endpoint agent was revoked"
	a.closeAll(tunnelproto.CodeRevoked, why)
	port := ln.Addr().(*net.TCPAddr).Port
	s, err := a.open(context.Background(), tunnelproto.DialRequest{TunnelID: "tun-1", Address: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	_ = s.SendData(append(make([]byte, tunnelproto.HeaderLen), "probe"...))
	_, err = s.Recv(func(n int) []byte { return make([]byte, n) })
	var r *tunnelproto.EndReason
	if !errors.As(err, &r) || r.Code != tunnelproto.CodeRevoked || r.Message != why {
		t.Fatalf("Recv after closeAll: %v; want the end %s %q", err, tunnelproto.CodeRevoked, why)
	}
	if err := <-got; err != nil {
		t.Fatalf("target: %v", err)
	}
	a.mu.Lock()
	n := len(a.streams)
	a.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d streams still listed", n)
	}
}
