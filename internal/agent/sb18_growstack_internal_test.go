package agent

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/postern/postern/internal/agent/egress"
	"github.com/postern/postern/internal/agent/targetdial"
	"github.com/postern/postern/internal/util/stackgrow"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestSB18StackGrowsOnceBeforeTheDial: a stream's goroutine grows its
// stack once, at its start (stackgrow.To8K, a copy of a few small frames),
// and the dial request's decoding and the target's dial then run without
// growing it again. Without it the same work grew a fresh
// goroutine's stack twice, deep inside it (seen on the agent with a
// uprobe on runtime.copystack: per tunnel one copy in encoding/json to
// 8 KiB and one to 4 KiB before it). A stack that is copied moves: the
// address of a local variable tells.
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
	// run does the work on a fresh goroutine, after grow when it is set,
	// and reports whether grow and the work moved the stack.
	run := func(grow func() byte) (grew, moved bool) {
		t.Helper()
		var werr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			var x byte
			p0 := uintptr(unsafe.Pointer(&x))
			if grow != nil {
				grow()
			}
			p1 := uintptr(unsafe.Pointer(&x))
			werr = work()
			p2 := uintptr(unsafe.Pointer(&x))
			grew, moved = p0 != p1, p1 != p2
		}()
		<-done
		if werr != nil {
			t.Fatal(werr)
		}
		return grew, moved
	}

	if _, moved := run(nil); !moved {
		t.Skip("the runtime starts goroutines with a stack that holds the decoding and the dial: nothing to grow")
	}
	grew, moved := run(stackgrow.To8K)
	if !grew {
		t.Error("stackgrow.To8K did not grow the stack")
	}
	if moved {
		t.Error("the decoding and the dial grew the stack again after stackgrow.To8K")
	}
	// stackgrow.To4K grows a fresh goroutine's stack, once.
	if grew, _ := run(stackgrow.To4K); !grew {
		t.Error("stackgrow.To4K did not grow the stack")
	}
}
