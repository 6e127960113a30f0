//go:build linux

package client

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A tunnel's first answer (or its close before one) that comes once no
// tunnel was opened for spareWarm makes no spare: spares are kept only
// while tunnels are being opened, and a long-lived tunnel's late answer
// or close does not start spare connections (and their replacements,
// every lifetime for spareWarm more) on an otherwise idle client.
func TestNextSpareNotAfterWarm(t *testing.T) {
	tests := []struct {
		name   string
		answer func(t *testing.T, s *answerServer, tun *Tunnel)
	}{
		{"closed before any answer", func(t *testing.T, s *answerServer, tun *Tunnel) {
			_ = tun.Close()
			s.say <- "drop"
		}},
		{"the server's first bytes, late", func(t *testing.T, s *answerServer, tun *Tunnel) {
			s.say <- "data"
			buf := make([]byte, 8)
			if n, err := tun.Read(buf); string(buf[:n]) != "hi" || err != nil {
				t.Fatalf("read %q, %v", buf[:n], err)
			}
			_ = tun.SetReadDeadline(time.Unix(1, 0)) // the next wait returns at once
			_, _ = tun.Read(buf)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, d, tun := tunnelOnKeptSpare(t)
			if n := spares(d); n != 0 {
				t.Fatalf("%d spares before the first answer, want 0", n)
			}
			// The tunnel was opened spareWarm ago, and none since.
			p := d.pool()
			p.mu.Lock()
			p.lastUse = time.Now().Add(-spareWarm)
			p.mu.Unlock()
			tc.answer(t, s, tun)
			if n := spares(d); n != 0 {
				t.Fatalf("%d spares after a first answer %v after the last open, want 0", n, spareWarm)
			}
		})
	}
}

// A tunnel calls what it was given for its first answer once, whatever
// follows (more data and waits, the server's close, the connection's
// end, Close from several goroutines at once): not a pool look-up per
// wait on the copy's path.
func TestNextSpareCalledOnce(t *testing.T) {
	s, d, tun := tunnelOnKeptSpare(t)
	orig := tun.next.Load()
	if orig == nil {
		t.Fatal("a tunnel of a Dialer keeping spares has nothing to call after its first answer")
	}
	var calls atomic.Int32
	tun.setNext(func() { calls.Add(1); (*orig)() })
	buf := make([]byte, 8)
	for range 3 { // each Read after the first waits again
		s.say <- "data"
		if n, err := tun.Read(buf); string(buf[:n]) != "hi" || err != nil {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
	}
	s.say <- "close"
	if _, err := io.ReadAll(tun); err != nil {
		t.Fatalf("read to the close: %v", err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = tun.Close() }()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("called %d times after the first answer, want once", n)
	}
	if n := spares(d); n != 1 {
		t.Fatalf("%d spares, want 1", n)
	}
}

// A read deadline that passes before the server answered is no answer:
// the tunnel goes on, and its spare is made once the answer comes.
func TestNextSpareNotOnADeadline(t *testing.T) {
	s, d, tun := tunnelOnKeptSpare(t)
	buf := make([]byte, 8)
	_ = tun.SetReadDeadline(time.Unix(1, 0))
	if _, err := tun.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the deadline: %v", err)
	}
	if n := spares(d); n != 0 {
		t.Fatalf("%d spares after a read deadline passed before any answer, want 0", n)
	}
	_ = tun.SetReadDeadline(time.Time{})
	s.say <- "data"
	if n, err := tun.Read(buf); string(buf[:n]) != "hi" || err != nil {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	_ = tun.Close()
	if n := spares(d); n != 1 {
		t.Fatalf("%d spares after the answer, want 1", n)
	}
}

// A tunnel that ends after its Dialer's CloseSpares (the client shutting
// down) makes no spare: no connection is left open after CloseSpares.
func TestNextSpareNotAfterCloseSpares(t *testing.T) {
	s := newAnswerServer(t, false)
	d := s.dialer()
	d.KeepSpares("example.com")
	s.nextAccepted(t)
	readSpare(t, d)
	tun, err := d.Dial(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	d.CloseSpares()
	_ = tun.Close()
	s.say <- "drop"
	if n := spares(d); n != 0 {
		t.Fatalf("%d spares after CloseSpares and the tunnel's close, want 0", n)
	}
}
