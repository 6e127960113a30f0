package frontdoor

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/relay"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// r3EndStream is an idleStream whose target ends (Recv returns err) once
// end is closed.
type r3EndStream struct {
	*idleStream
	end chan struct{}
	err error
}

func (s *r3EndStream) Recv(func(int) []byte) ([]byte, error) {
	select {
	case <-s.gone:
		return nil, io.ErrClosedPipe
	case <-s.end:
		return nil, s.err
	}
}

// r3Frames reads a client's frames until the connection ends and
// reports the close frames it read and whether any frame came after the
// first close frame.
func r3Frames(c net.Conn) <-chan []wsframe.Frame {
	out := make(chan []wsframe.Frame, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(2 * qhBound))
		rd := wsframe.NewReader(c, false)
		var got []wsframe.Frame
		closed := false
		for {
			fr, err := rd.Next()
			if err != nil {
				out <- got
				return
			}
			if closed || fr.Kind == wsframe.KindClose {
				got = append(got, fr)
				closed = true
			}
			for rd.Remaining() > 0 {
				if _, err := rd.ReadPayload(make([]byte, 4096)); err != nil {
					out <- got
					return
				}
			}
		}
	}()
	return out
}

// The maximum duration racing each other end of a tunnel (Terminate,
// Shutdown, the client's close, the target's EOF or reset), in each
// order and at once: the record says exactly one outcome, and the client
// that reads gets exactly one close frame, with that outcome's code, and
// no frame after it.
func TestR3_15MaxDurationRacingEachEnd(t *testing.T) {
	type other struct {
		name string
		code int // the outcome's close code when it decides first
		run  func(f *FrontDoor, client net.Conn, s *r3EndStream)
	}
	others := []other{
		{"Terminate", wsframe.CloseGoingAway, func(f *FrontDoor, _ net.Conn, _ *r3EndStream) {
			f.Terminate(func(TunnelInfo) bool { return true }, wsframe.CloseGoingAway, "TestEnd", "ended by the test")
		}},
		{"Shutdown", wsframe.CloseGoingAway, func(f *FrontDoor, _ net.Conn, _ *r3EndStream) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*qhBound)
			defer cancel()
			_ = f.Shutdown(ctx)
		}},
		{"client close", wsframe.CloseNormal, func(_ *FrontDoor, client net.Conn, _ *r3EndStream) {
			_ = ws.WriteFrame(client, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
		}},
		{"target EOF", wsframe.CloseNormal, func(_ *FrontDoor, _ net.Conn, s *r3EndStream) { close(s.end) }},
		{"target reset", wsframe.CloseInternalError, func(_ *FrontDoor, _ net.Conn, s *r3EndStream) { close(s.end) }},
	}
	orders := []string{"timer first", "other first", "together"}
	n := 0
	for _, o := range others {
		for _, order := range orders {
			for _, waits := range []bool{true, false} {
				n++
				id := fmt.Sprintf("tnl-0r315maxrace%05d", n)
				t.Run(fmt.Sprintf("%s/%s/poller %v", o.name, order, waits), func(t *testing.T) {
					f, st := r3Door(t)
					s := &r3EndStream{idleStream: newIdleStream(), end: make(chan struct{}), err: io.EOF}
					if o.name == "target reset" {
						s.err = &tunnelproto.EndReason{Code: tunnelproto.CodeTargetReset, Message: "reset by the test"}
					}
					client, tun := openWith(t, f, id, waits, nil, s)
					frames := r3Frames(client)
					switch order {
					case "timer first":
						tun.atMaxDuration()
						o.run(f, client, s)
					case "other first":
						o.run(f, client, s)
						// The client's close and the target's end are
						// decided by the tunnel's own goroutines.
						if !goroutines.Eventually(tun.isEnded) {
							t.Fatal("the other end was never decided")
						}
						tun.atMaxDuration()
					default:
						start := make(chan struct{})
						done := make(chan struct{}, 2)
						go func() { <-start; tun.atMaxDuration(); done <- struct{}{} }()
						go func() { <-start; o.run(f, client, s); done <- struct{}{} }()
						close(start)
						<-done
						<-done
					}
					waitRuns(t, f)
					reason, code := closeReason(t, st, id)
					evs, err := st.ListEvents(context.Background(), store.EventQuery{EventName: "CloseTunnel", TunnelID: id})
					if err != nil || len(evs) != 1 {
						t.Fatalf("%d CloseTunnel records (%v), want 1", len(evs), err)
					}
					switch order {
					case "timer first":
						if reason != tunnelproto.CodeMaxDuration {
							t.Errorf("record %q %d, want %s", reason, code, tunnelproto.CodeMaxDuration)
						}
					case "other first":
						if code != o.code {
							t.Errorf("record %q %d, want code %d", reason, code, o.code)
						}
					}
					var got []wsframe.Frame
					select {
					case got = <-frames:
					case <-time.After(3 * qhBound):
						t.Fatal("the client's reading never ended")
					}
					if len(got) != 1 || got[0].Kind != wsframe.KindClose || got[0].Code != code {
						t.Errorf("the client read %+v from the close on, want one close frame with code %d (the record's %q)", got, code, reason)
					}
					noTunnelGoroutines(t)
				})
			}
		}
	}
}

// r3OpenFor is openWith (no wrap) for a tunnel whose maximum duration is d.
func r3OpenFor(t *testing.T, f *FrontDoor, id string, waits bool, d time.Duration, s relay.Stream) (net.Conn, *tunnel) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	req := &request{id: "req-" + id, tunnelID: id, at: time.Now(), sourceIP: "127.0.0.1", endpoint: store.Endpoint{EndpointID: "eice-0123456789abcdef0"},
		addr: netip.MustParseAddr("10.0.0.5"), port: 22, duration: d, agentID: "agent-1"}
	rec := audit.OpenTunnel(f.meta(req), req.params, req.endpointRN, audit.OpenTunnelData{TunnelID: id, AgentID: req.agentID}, "", "")
	if err := f.audit.Write(context.Background(), rec, id, req.endpoint.EndpointID); err != nil {
		t.Fatal(err)
	}
	out := conn
	tun := &tunnel{req: req, conn: conn, wr: wsframe.NewWriter(out, false), stream: s, started: time.Now(), log: f.log,
		finished: make(chan struct{}), grace: f.cfg.CloseGrace}
	tun.in = clientReader{src: conn, conn: conn}
	if waits {
		tun.in.setRaw(conn)
	}
	tun.rd = wsframe.NewReader(&tun.in, true)
	tun.lastRead.Store(time.Now().UnixNano())
	f.mu.Lock()
	f.tunnels[id] = tun
	f.byEndpoint[req.endpoint.EndpointID]++
	f.mu.Unlock()
	f.wg.Add(1)
	go f.run(tun, rec.EventID)
	return client, tun
}

// A maximum duration shorter than the tunnel's setup (the timer fires
// while run is still arming the reader, or before the client's first
// byte) ends the tunnel as at any other time: one record MaxDuration,
// one close frame 1008 to a client that reads, nothing left running.
func TestR3_15MaxDurationBeforeTheFirstByte(t *testing.T) {
	for i, waits := range []bool{true, false} {
		for _, d := range []time.Duration{time.Nanosecond, 50 * time.Microsecond, time.Millisecond} {
			t.Run(fmt.Sprintf("poller %v/%v", waits, d), func(t *testing.T) {
				f, st := r3Door(t)
				id := fmt.Sprintf("tnl-0r315maxearly%d%07d", i, d.Microseconds())
				client, _ := r3OpenFor(t, f, id, waits, d, newIdleStream())
				frames := r3Frames(client)
				waitRuns(t, f)
				reason, code := closeReason(t, st, id)
				if reason != tunnelproto.CodeMaxDuration || code != wsframe.ClosePolicyViolation {
					t.Errorf("record %q %d, want %s %d", reason, code, tunnelproto.CodeMaxDuration, wsframe.ClosePolicyViolation)
				}
				var got []wsframe.Frame
				select {
				case got = <-frames:
				case <-time.After(3 * qhBound):
					t.Fatal("the client's reading never ended")
				}
				if len(got) != 1 || got[0].Code != wsframe.ClosePolicyViolation {
					t.Errorf("the client read %+v from the close on, want one close frame 1008", got)
				}
				noTunnelGoroutines(t)
			})
		}
	}
}
