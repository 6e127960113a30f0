//go:build linux

package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// answerServer is a real TLS WebSocket server (httptest, crypto/tls)
// whose tunnels answer only when told: each upgraded connection waits
// for one action on say.
type answerServer struct {
	srv      *httptest.Server
	roots    *x509.CertPool
	accepted chan net.Conn
	say      chan string // "data": send "hi"; "close": a close frame; "drop": close the connection
}

// newAnswerServer starts an answerServer; with refuse, it refuses every
// upgrade (403) instead.
func newAnswerServer(t *testing.T, refuse bool) *answerServer {
	t.Helper()
	s := &answerServer{accepted: make(chan net.Conn, 64), say: make(chan string, 64)}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse {
			http.Error(w, `{"ErrorCode":"AccessDeniedException","Message":"no"}`, http.StatusForbidden)
			return
		}
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			var act string
			select {
			case act = <-s.say:
			case <-time.After(waitTimeout):
				return
			}
			switch act {
			case "data":
				_ = wsutil.WriteServerBinary(conn, []byte("hi"))
			case "close":
				_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
				return
			case "drop":
				return
			}
		}
	}))
	s.srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.accepted <- c
		}
	}
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.TLS = &tls.Config{}
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	s.roots = x509.NewCertPool()
	s.roots.AddCert(s.srv.Certificate())
	return s
}

func (s *answerServer) dialer() *Dialer {
	return (&spareServer{srv: s.srv, roots: s.roots}).dialer()
}

func (s *answerServer) nextAccepted(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.accepted:
		return c
	case <-time.After(waitTimeout):
		t.Fatal("no connection reached the server")
		return nil
	}
}

// spares is the number of d's spares, made or being made.
func spares(d *Dialer) int {
	p := d.pool()
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.list)
}

// With KeepSpares, the next tunnel's spare is not made while a tunnel
// opened on a spare waits for its first answer (its TCP connect and TLS
// handshake would compete with the server's and the agent's work for
// that answer on the same cores): it is made once the tunnel had it —
// the first wait after the server's first bytes were handed out, the
// server's close, the connection's end, or the tunnel closed first.
func TestNextSpareAfterTheFirstAnswer(t *testing.T) {
	tests := []struct {
		name string
		// answer makes the tunnel's first answer happen and returns once
		// the client saw it; before it returns, data handed out must not
		// yet have made the spare (checked by the case itself).
		answer func(t *testing.T, s *answerServer, d *Dialer, tun *Tunnel)
	}{
		{"the server's first bytes, then the next wait", func(t *testing.T, s *answerServer, d *Dialer, tun *Tunnel) {
			s.say <- "data"
			buf := make([]byte, 8)
			if n, err := tun.Read(buf); string(buf[:n]) != "hi" || err != nil {
				t.Fatalf("read %q, %v", buf[:n], err)
			}
			if n := spares(d); n != 0 {
				t.Fatalf("%d spares as the first bytes were handed out, want 0 until the next wait", n)
			}
			// The next wait (a deadline passed: it returns at once).
			_ = tun.SetReadDeadline(time.Unix(1, 0))
			if _, err := tun.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read after the deadline: %v", err)
			}
		}},
		{"the server's close", func(t *testing.T, s *answerServer, d *Dialer, tun *Tunnel) {
			s.say <- "close"
			if _, err := io.ReadAll(tun); err != nil {
				t.Fatalf("read to the close: %v", err)
			}
		}},
		{"the connection's end", func(t *testing.T, s *answerServer, d *Dialer, tun *Tunnel) {
			s.say <- "drop"
			var ce *ClosedError
			if _, err := io.ReadAll(tun); !errors.As(err, &ce) {
				t.Fatalf("read to the end: %v, want a ClosedError", err)
			}
		}},
		{"closed by the client first", func(t *testing.T, s *answerServer, d *Dialer, tun *Tunnel) {
			_ = tun.Close()
			s.say <- "drop"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, d, tun := tunnelOnKeptSpare(t)
			if n := spares(d); n != 0 {
				t.Fatalf("%d spares right after the upgrade, want 0 until the tunnel's first answer", n)
			}
			// A wait that finds nothing yet is no answer either.
			if err := tun.wait(false, false, nil); !errors.Is(err, errIdle) {
				t.Fatalf("wait before any answer: %v, want errIdle", err)
			}
			if n := spares(d); n != 0 {
				t.Fatalf("%d spares before the first answer, want 0", n)
			}
			tc.answer(t, s, d, tun)
			if n := spares(d); n != 1 {
				t.Fatalf("%d spares after the first answer, want 1", n)
			}
			s.nextAccepted(t) // the spare reached the server
			readSpare(t, d)
			// Once only: the tunnel's later waits and its close make no
			// other.
			_ = tun.Close()
			if n := spares(d); n != 1 {
				t.Errorf("%d spares after the tunnel's close, want still 1", n)
			}
		})
	}
}

// A refused upgrade makes the next spare at once (there is no answer
// to wait for), and a Dialer that keeps no spares makes none.
func TestNextSpareWithoutATunnel(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		s := newAnswerServer(t, true)
		d := s.dialer()
		d.KeepSpares("example.com")
		defer d.CloseSpares()
		s.nextAccepted(t)
		readSpare(t, d)
		var re *RefusedError
		if _, err := d.Dial(context.Background(), target); !errors.As(err, &re) {
			t.Fatalf("dial: %v, want a refusal", err)
		}
		if n := spares(d); n != 1 {
			t.Fatalf("%d spares after a refusal, want 1", n)
		}
		s.nextAccepted(t)
	})
	t.Run("no KeepSpares", func(t *testing.T) {
		s := newAnswerServer(t, false)
		d := s.dialer()
		tun, err := d.Dial(context.Background(), target)
		if err != nil {
			t.Fatal(err)
		}
		defer tun.Close()
		if tun.next.Load() != nil {
			t.Error("a tunnel of a Dialer without spares has something to call after its first answer")
		}
		s.say <- "close"
		_, _ = io.ReadAll(tun)
		if d.hasPool() {
			t.Error("a Dialer without spares made a pool")
		}
	})
}

// tunnelOnKeptSpare opens a tunnel on the spare of a Dialer that keeps
// spares (KeepSpares) for a new answerServer; the tunnel, then the
// Dialer's spares, are closed when the test ends.
func tunnelOnKeptSpare(t *testing.T) (*answerServer, *Dialer, *Tunnel) {
	t.Helper()
	s := newAnswerServer(t, false)
	d := s.dialer()
	d.KeepSpares("example.com")
	t.Cleanup(d.CloseSpares)
	s.nextAccepted(t)
	readSpare(t, d)
	tun, err := d.Dial(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	return s, d, tun
}
