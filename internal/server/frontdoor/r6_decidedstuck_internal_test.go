package frontdoor

import (
	"context"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// r6FloodStream is a floodStream whose sends toward the target fail with
// failSend (nil: they succeed): a target that went away while it sent.
type r6FloodStream struct {
	floodStream
	failSend error
}

func (s r6FloodStream) SendData(p []byte) error {
	if s.failSend != nil {
		return s.failSend
	}
	return s.floodStream.SendData(p)
}

// Shutdown keeps its budget with a tunnel whose end its own goroutines
// decided already, without abort, and whose close frame waits on a
// client that stopped reading (its TCP window full of the target's
// bytes): the client sent its close frame, or the agent's side failed a
// send, while the target kept sending. Shutdown's Terminate found the
// outcome decided and only stopped the reader; the close frame's write
// waited for the stuck data write, up to wsframe.WriteTimeout (60 s), and
// the tunnel's run with it. The record keeps the outcome decided first.
func TestR6ShutdownWithADecidedTunnelWhoseClientStoppedReading(t *testing.T) {
	cases := []struct {
		name       string
		waits      bool   // the reader waits in the Poller
		fail       bool   // the agent's side fails the client's data (else the client sends its close)
		wantReason string // the record's
		wantCode   int
	}{
		{"client close, reader in the Poller", true, false, "Normal", wsframe.CloseNormal},
		{"client close, reader on a goroutine", false, false, "Normal", wsframe.CloseNormal},
		{"send failed, reader in the Poller", true, true, "TargetReset", wsframe.CloseInternalError},
		{"send failed, reader on a goroutine", false, true, "TargetReset", wsframe.CloseInternalError},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, st := idleDoor(t, time.Hour) // close grace 2 s
			f.closedDone = true             // idleDoor's cleanup closes done
			id := "tnl-0r6000000000decid" + string(rune('a'+i))
			s := r6FloodStream{floodStream: floodStream{newIdleStream()}}
			if c.fail {
				s.failSend = &tunnelproto.EndReason{Code: "TargetReset", Message: "the target reset the connection"}
			}
			client, tun := openWith(t, f, id, c.waits, nil, s) // it never reads
			last := int64(-1)
			if !goroutines.Eventually(func() bool {
				n := tun.bytesOut.Load()
				held := n > 0 && n == last
				last = n
				return held
			}) {
				t.Fatal("the write to the client that stopped reading never waited")
			}
			var fr ws.Frame
			if c.fail {
				fr = ws.NewBinaryFrame([]byte("ls\n"))
			} else {
				fr = ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
			}
			if err := ws.WriteFrame(client, ws.MaskFrame(fr)); err != nil {
				t.Fatal(err)
			}
			// The tunnel's own goroutine decides its end (after the close
			// grace for a client's close) and waits to write its close frame.
			if !goroutines.Eventually(tun.isEnded) {
				t.Fatal("the tunnel's end was never decided")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second) // Run's budget
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- f.Shutdown(ctx) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Shutdown with a decided tunnel whose client stopped reading: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Shutdown never returned")
			}
			if reason, code := closeReason(t, st, id); reason != c.wantReason || code != c.wantCode {
				t.Errorf("close record %q %d, want %s %d", reason, code, c.wantReason, c.wantCode)
			}
			// Nothing of the tunnel (its close frame's writer included) is
			// left running.
			noTunnelGoroutines(t)
		})
	}
}
