package agent

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent/egress"
	"github.com/postern/postern/internal/agent/targetdial"
	"github.com/postern/postern/internal/testutil/stackmove"
	"github.com/postern/postern/internal/util/stackgrow"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestSB18StackGrowsOnceBeforeTheDial: a stream's goroutine grows its
// stack once, at its start (stackgrow.To8K, a copy of a few small frames),
// and the dial request's decoding and the target's dial then run without
// growing it again. Without it the same work grew a fresh
// goroutine's stack twice, deep inside it (seen on the agent with a
// uprobe on runtime.copystack: per tunnel one copy in encoding/json to
// 8 KiB and one to 4 KiB before it). The stack moves exactly once
// (stackmove.GrowsOnce).
func TestSB18StackGrowsOnceBeforeTheDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var frame bytes.Buffer
	req := tunnelproto.DialRequest{TunnelID: "tnl-sb18", Address: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
	if err := tunnelproto.WriteJSON(&frame, tunnelproto.FrameDial, req); err != nil {
		t.Fatal(err)
	}
	policy := egress.Policy{VPC: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, AllowLoopback: true}
	// What openTunnel does with the stack: decode the request, dial.
	work := func() error {
		var r tunnelproto.DialRequest
		if err := tunnelproto.ReadJSON(bytes.NewReader(frame.Bytes()), tunnelproto.FrameDial, &r); err != nil {
			return err
		}
		conn, res := targetdial.Dial(context.Background(), policy, r, 10*time.Second)
		if conn == nil {
			return errors.New(res.Message)
		}
		return conn.Close()
	}
	var werr error
	doWork := func() {
		if err := work(); err != nil && werr == nil {
			werr = err
		}
	}
	stackmove.GrowsOnce(t, "stackgrow.To8K", func() { stackgrow.To8K() }, doWork)
	if werr != nil {
		t.Fatal(werr)
	}
	// stackgrow.To4K grows a fresh goroutine's stack, once.
	var grew bool
	stackmove.OnNewGoroutine(func() { grew = stackmove.Moved(func() { stackgrow.To4K() }) })
	if !grew {
		t.Error("stackgrow.To4K did not grow the stack")
	}
}
