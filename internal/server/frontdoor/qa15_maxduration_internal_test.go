package frontdoor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// qa15HeldEnd is an idleStream whose SendEnd with reason held ends the
// agent's side (its Recv returns) and then waits for release: the
// goroutine that decided the tunnel's end is held between its decision
// and its close frame, while the tunnel's own goroutines see the agent's
// side gone and go on to end the run.
type qa15HeldEnd struct {
	*idleStream
	held    string
	reached chan struct{} // closed when SendEnd with held is reached
	release chan struct{}
}

func (s *qa15HeldEnd) SendEnd(code, msg string) error {
	err := s.idleStream.SendEnd(code, msg)
	if code == s.held {
		close(s.reached)
		<-s.release
	}
	return err
}

// qa15ReadEnd reads the client's frames in the background and reports
// the first close frame (its code and reason) or the read's error.
func qa15ReadEnd(c interface {
	Read([]byte) (int, error)
	SetReadDeadline(time.Time) error
}) <-chan wsframe.Frame {
	out := make(chan wsframe.Frame, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(qhBound))
		rd := wsframe.NewReader(c, false)
		for {
			fr, err := rd.Next()
			if err != nil {
				out <- wsframe.Frame{Reason: "read error: " + err.Error()}
				return
			}
			if fr.Kind == wsframe.KindClose {
				out <- fr
				return
			}
		}
	}()
	return out
}

// The maximum duration reached while the tunnel's own end is in progress
// (the client sent its close frame; the run waits for the agent's side)
// ends it as Terminate and revocation do: a client that reads gets close
// 1008 with the maximum-duration reason, never the connection's end
// without a close frame (1006), and the record says MaxDuration once.
// Before, the timer's goroutine decided the end, ended the agent's side
// and only then wrote the close frame: the run, seeing the agent's side
// gone, closed the connection first (the seam holds the timer's goroutine
// there).
func TestQA15MaxDurationRacingTheTunnelsOwnEndSendsItsClose(t *testing.T) {
	for i, waits := range []bool{true, false} {
		t.Run(fmt.Sprintf("reader in the Poller %v", waits), func(t *testing.T) {
			f, st := idleDoor(t, time.Hour)
			id := fmt.Sprintf("tnl-0qa15000000race%03d", i)
			s := &qa15HeldEnd{idleStream: newIdleStream(), held: tunnelproto.CodeMaxDuration,
				reached: make(chan struct{}), release: make(chan struct{})}
			client, tun := openWith(t, f, id, waits, nil, s)
			ends := qa15ReadEnd(client)
			if err := ws.WriteFrame(client, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))); err != nil {
				t.Fatal(err)
			}
			if !goroutines.Eventually(func() bool {
				tun.mu.Lock()
				defer tun.mu.Unlock()
				return tun.clientClose
			}) {
				t.Fatal("the client's close was never read")
			}
			go tun.atMaxDuration() // what the timer runs
			select {
			case <-s.reached:
			case <-time.After(qhBound):
				t.Fatal("the maximum duration never ended the agent's side")
			}
			var fr wsframe.Frame
			select {
			case fr = <-ends:
			case <-time.After(2 * qhBound):
				t.Fatal("the client read nothing")
			}
			close(s.release)
			want := tunnelproto.MaxDurationCloseReason(tun.req.duration)
			if fr.Kind != wsframe.KindClose || fr.Code != wsframe.ClosePolicyViolation || fr.Reason != want {
				t.Errorf("the client read %+v, want close %d %q", fr, wsframe.ClosePolicyViolation, want)
			}
			waitRuns(t, f)
			evs, err := st.ListEvents(context.Background(), store.EventQuery{EventName: "CloseTunnel", TunnelID: id})
			if err != nil || len(evs) != 1 {
				t.Fatalf("%d CloseTunnel records (%v), want 1", len(evs), err)
			}
			if reason, code := closeReason(t, st, id); reason != tunnelproto.CodeMaxDuration || code != wsframe.ClosePolicyViolation {
				t.Errorf("close record %q %d, want %s %d", reason, code, tunnelproto.CodeMaxDuration, wsframe.ClosePolicyViolation)
			}
			noTunnelGoroutines(t)
		})
	}
}

// The maximum duration of a tunnel whose client stopped reading (its TCP
// window full of the target's bytes) ends it by the close grace, whether
// the end was still open or the tunnel's own goroutines had decided it
// already and wait to write its close frame (the client's close, a
// failed send): the run ends and its CloseTunnel record is written within
// the grace, not at wsframe.WriteTimeout (60 s), and nothing of the
// tunnel is left running. Before, the timer found a decided end and
// left the stuck write alone.
func TestQA15MaxDurationEndsAStuckClientsTunnelByTheGrace(t *testing.T) {
	cases := []struct {
		name       string
		decide     string // "": undecided; "close": the client's close; "fail": a failed send
		wantReason string
		wantCode   int
	}{
		{"undecided", "", tunnelproto.CodeMaxDuration, wsframe.ClosePolicyViolation},
		{"decided by the client's close", "close", "Normal", wsframe.CloseNormal},
		{"decided by a failed send", "fail", "TargetReset", wsframe.CloseInternalError},
	}
	for i, c := range cases {
		for _, waits := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, reader in the Poller %v", c.name, waits), func(t *testing.T) {
				f, st := idleDoor(t, time.Hour) // close grace 2 s
				id := fmt.Sprintf("tnl-0qa15stuck%d%t", i, waits)
				s := r6FloodStream{floodStream: floodStream{newIdleStream()}}
				if c.decide == "fail" {
					s.failSend = &tunnelproto.EndReason{Code: "TargetReset", Message: "the target reset the connection"}
				}
				client, tun := openWith(t, f, id, waits, nil, s) // it never reads
				last := int64(-1)
				if !goroutines.Eventually(func() bool {
					n := tun.bytesOut.Load()
					held := n > 0 && n == last
					last = n
					return held
				}) {
					t.Fatal("the write to the client that stopped reading never waited")
				}
				if c.decide != "" {
					fr := ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
					if c.decide == "fail" {
						fr = ws.NewBinaryFrame([]byte("ls\n"))
					}
					if err := ws.WriteFrame(client, ws.MaskFrame(fr)); err != nil {
						t.Fatal(err)
					}
					if !goroutines.Eventually(tun.isEnded) {
						t.Fatal("the tunnel's end was never decided")
					}
				}
				returned := make(chan struct{})
				go func() { tun.atMaxDuration(); close(returned) }()
				ran := make(chan struct{})
				go func() { f.wg.Wait(); close(ran) }()
				select {
				case <-ran:
				case <-time.After(2 * qhBound): // the grace is 2 s; before, 60 s
					t.Fatal("the run of a stuck client's tunnel did not end by the close grace at its maximum duration")
				}
				<-returned
				if reason, code := closeReason(t, st, id); reason != c.wantReason || code != c.wantCode {
					t.Errorf("close record %q %d, want %s %d", reason, code, c.wantReason, c.wantCode)
				}
				noTunnelGoroutines(t)
			})
		}
	}
}
