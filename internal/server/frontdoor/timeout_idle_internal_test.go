package frontdoor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/relay"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/testutil/sqlitetest"
	"github.com/postern/postern/internal/util/sockwait"
	"github.com/postern/postern/internal/wire/wsframe"
)

// idleStream is an agent's stream whose target never sends: Recv waits
// until the stream is ended or closed. It remembers the end it was sent.
type idleStream struct {
	mu      sync.Mutex
	endCode string
	gone    chan struct{}
	once    sync.Once
}

func newIdleStream() *idleStream { return &idleStream{gone: make(chan struct{})} }

func (s *idleStream) Recv(func(int) []byte) ([]byte, error) {
	<-s.gone
	return nil, io.ErrClosedPipe
}
func (s *idleStream) SendData([]byte) error { return nil }
func (s *idleStream) SendEOF() error        { return nil }
func (s *idleStream) SendEnd(code, _ string) error {
	s.mu.Lock()
	if s.endCode == "" {
		s.endCode = code
	}
	s.mu.Unlock()
	s.once.Do(func() { close(s.gone) })
	return nil
}
func (s *idleStream) Close() error { s.once.Do(func() { close(s.gone) }); return nil }
func (s *idleStream) ended() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endCode
}

// idleDoor is a FrontDoor with what run, keepalive and recordClose use:
// its ping interval short, its records in a store of its own.
func idleDoor(t *testing.T, ping time.Duration) (*FrontDoor, store.Store) {
	st := sqlitetest.Open(t)
	f := &FrontDoor{cfg: Config{PingInterval: ping, CloseGrace: 2 * time.Second, Now: time.Now, AccountID: "123456789012", Region: "us-east-1"},
		log: slog.New(slog.DiscardHandler), audit: audit.NewWriter(st, nil),
		tunnels: map[string]*tunnel{}, byEndpoint: map[string]int{}, done: make(chan struct{})}
	t.Cleanup(func() { close(f.done) })
	return f, st
}

// openIdle starts a tunnel of f over a loopback TCP connection (plain
// WebSocket frames, no TLS: the reader waits on the socket all the same,
// or on a goroutine with waits false), whose agent's side is an
// idleStream, and returns the client's end.
func openIdle(t *testing.T, f *FrontDoor, st store.Store, id string, waits bool) (net.Conn, *idleStream) {
	s := newIdleStream()
	client, _ := openWith(t, f, id, waits, nil, s)
	return client, s
}

// openWith starts a tunnel of f as openIdle does, with the agent's
// stream s, whose frames to the client are written to wrap(conn) (to conn
// itself with wrap nil).
func openWith(t *testing.T, f *FrontDoor, id string, waits bool, wrap func(net.Conn) net.Conn, s relay.Stream) (net.Conn, *tunnel) {
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
		addr: netip.MustParseAddr("10.0.0.5"), port: 22, duration: time.Hour, agentID: "agent-1"}
	rec := audit.OpenTunnel(f.meta(req), req.params, req.endpointRN, audit.OpenTunnelData{TunnelID: id, AgentID: req.agentID}, "", "")
	if err := f.audit.Write(context.Background(), rec, id, req.endpoint.EndpointID); err != nil {
		t.Fatal(err)
	}
	out := conn
	if wrap != nil {
		out = wrap(conn)
	}
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

// waitRuns fails t unless every tunnel run of f ends (bounded wait).
func waitRuns(t *testing.T, f *FrontDoor) {
	t.Helper()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	if !goroutines.Eventually(func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}) {
		t.Fatal("the tunnels' runs did not end")
	}
}

// noTunnelGoroutines reports an error unless no goroutine of a tunnel or
// of the clientIdler is left running (bounded wait).
func noTunnelGoroutines(t *testing.T) {
	t.Helper()
	for _, fn := range []string{"frontdoor.(*tunnel).", "frontdoor.(*clientIdler)."} {
		if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, fn)) == 0 }) {
			t.Errorf("goroutines left in %s after the end:\n%s", fn, strings.Join(goroutines.Running(t, fn), "\n\n"))
		}
	}
}

// closeReason reads the CloseTunnel record of id, waiting (bounded) for
// it.
func closeReason(t *testing.T, st store.Store, id string) (reason string, code int) {
	t.Helper()
	var evs []store.Event
	if !goroutines.Eventually(func() bool {
		var err error
		evs, err = st.ListEvents(context.Background(), store.EventQuery{EventName: "CloseTunnel", TunnelID: id})
		return err == nil && len(evs) > 0
	}) {
		t.Fatalf("no CloseTunnel record of %s", id)
	}
	var rec struct {
		ServiceEventDetails struct {
			Reason    string
			CloseCode int
		}
	}
	if err := json.Unmarshal([]byte(evs[0].Body), &rec); err != nil {
		t.Fatal(err)
	}
	return rec.ServiceEventDetails.Reason, rec.ServiceEventDetails.CloseCode
}

// A client silent for three ping intervals is ended as ClientTimeout,
// with its CloseTunnel record and the agent's side ended with the same
// reason, whether its reader waits in the sockwait.Poller (which sees no
// read deadline: keepalive's sweep ends it) or on a goroutine (its read
// deadline); a client that answers the pings stays open past three
// intervals. Nothing of the tunnel stays running after its end.
func TestSilentClientTimesOut(t *testing.T) {
	_, noPoller := sockwait.Default()
	cases := []struct {
		name    string
		ping    time.Duration
		waits   bool // the reader waits on the socket (in the Poller where there is one)
		answers bool // the client answers the server's pings
	}{
		{"silent, reader in the Poller", 40 * time.Millisecond, true, false},
		{"silent, reader on a goroutine", 40 * time.Millisecond, false, false},
		// A pong has two intervals to reach the server: long ones, so that
		// a loaded machine does not take an answering client for silent.
		{"answers pings, reader in the Poller", 250 * time.Millisecond, true, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, st := idleDoor(t, c.ping)
			go f.keepalive()
			id := "tnl-0000000000000000" + string(rune('a'+i))
			client, s := openIdle(t, f, st, id, c.waits)
			if c.waits && noPoller == nil {
				// Idle, no goroutine reads for the tunnel.
				if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, "frontdoor.(*tunnel).clientToAgent")) == 0 }) {
					t.Errorf("an idle client's reader holds a goroutine:\n%s", strings.Join(goroutines.Running(t, "frontdoor.(*tunnel).clientToAgent"), "\n\n"))
				}
			}
			if c.answers {
				// Answer pings until more than three intervals passed: the
				// tunnel is still open (no CloseTunnel, the agent's side not
				// ended), then the client closes.
				_ = client.SetReadDeadline(time.Now().Add(20 * time.Second))
				for n := 0; n < 5; {
					fr, err := ws.ReadFrame(client)
					if err != nil {
						t.Fatalf("after %d pings: %v", n, err)
					}
					switch fr.Header.OpCode {
					case ws.OpPing:
						n++
						if err := ws.WriteFrame(client, ws.MaskFrame(ws.NewPongFrame(fr.Payload))); err != nil {
							t.Fatal(err)
						}
					case ws.OpClose:
						t.Fatalf("the server closed a client that answers its pings after %d pings", n)
					}
				}
				if code := s.ended(); code != "" {
					t.Fatalf("the agent's side was ended (%s) while the client answered", code)
				}
				client.Close()
				if reason, _ := closeReason(t, st, id); reason != codeClientGone {
					t.Errorf("close reason %q, want %s", reason, codeClientGone)
				}
			} else {
				reason, code := closeReason(t, st, id)
				if reason != "ClientTimeout" || code != 0 {
					t.Errorf("close record: reason %q, code %d; want ClientTimeout, 0", reason, code)
				}
				if got := s.ended(); got != "ClientTimeout" {
					t.Errorf("the agent's side was ended with %q, want ClientTimeout", got)
				}
				// The server closed the connection.
				_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.Copy(io.Discard, client); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
					t.Errorf("the client's connection after the timeout: %v", err)
				}
			}
			waitRuns(t, f)
			noTunnelGoroutines(t)
			f.mu.Lock()
			left := len(f.tunnels)
			f.mu.Unlock()
			if left != 0 {
				t.Errorf("%d tunnels left in the front door", left)
			}
		})
	}
}
