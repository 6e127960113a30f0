package frontdoor

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/testutil/sqlitetest"
	"github.com/postern/postern/internal/wire/wsframe"
)

// r3Door is idleDoor for a test that may call Shutdown (which closes
// done itself): the cleanup closes done only if nothing did.
func r3Door(t *testing.T) (*FrontDoor, store.Store) {
	st := sqlitetest.Open(t)
	f := &FrontDoor{cfg: Config{PingInterval: time.Hour, CloseGrace: 2 * time.Second, Now: time.Now, AccountID: "123456789012", Region: "us-east-1"},
		log: slog.New(slog.DiscardHandler), audit: audit.NewWriter(st, nil),
		tunnels: map[string]*tunnel{}, byEndpoint: map[string]int{}, done: make(chan struct{})}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.closedDone {
			f.closedDone = true
			close(f.done)
		}
	})
	return f, st
}

// r3Pings reads a client's connection raw (the bytes written beneath its
// writer are not frames) and counts the keepalive pings' payloads in it.
func r3Pings(c net.Conn, n *atomic.Int32) {
	_ = c.SetReadDeadline(time.Now().Add(6 * qhBound))
	buf := make([]byte, 64<<10)
	var tail []byte
	for {
		k, err := c.Read(buf)
		b := append(tail, buf[:k]...)
		n.Add(int32(bytes.Count(b, pingPayload)))
		if len(b) >= len(pingPayload) {
			tail = append([]byte(nil), b[len(b)-len(pingPayload)+1:]...)
		} else {
			tail = nil
		}
		if err != nil {
			return
		}
	}
}

// r3PingReader reports each frame a reading client gets (a ping, or the
// read's error).
func r3PingReader(c net.Conn) <-chan error {
	out := make(chan error, 16)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(8 * qhBound))
		rd := wsframe.NewReader(c, false)
		for {
			fr, err := rd.Next()
			if err == nil && fr.Kind != wsframe.KindPing {
				err = fmt.Errorf("frame of kind %d, want a ping", fr.Kind)
			}
			out <- err
			if err != nil {
				return
			}
		}
	}()
	return out
}

func r3PingGoroutines(t *testing.T) int {
	return len(goroutines.Running(t, "frontdoor.(*pingRun).run")) + len(goroutines.Running(t, "frontdoor.(*FrontDoor).pingSweep")) +
		len(goroutines.Running(t, "frontdoor.(*FrontDoor).ping"))
}

// Many clients that stopped reading hold one ping goroutine each, however
// many sweeps pass (the later sweeps skip them), and the reading client
// gets every sweep's ping; a stuck client that reads again frees its
// goroutine and is pinged by the next sweep (it is not left out for
// good); Shutdown while pings are stuck, or while a sweep still watches
// them, leaves no ping goroutine behind.
func TestR3_15StuckPingsHoldOneGoroutineEachAndEndWithShutdown(t *testing.T) {
	for _, during := range []bool{false, true} {
		t.Run(fmt.Sprintf("shutdown during the first sweep %v", during), func(t *testing.T) {
			f, _ := r3Door(t)
			var stuck []*tunnel
			var stuckClients []net.Conn
			for i := range 3 {
				c, tun := openWith(t, f, fmt.Sprintf("tnl-0r315pingstuck%d%v", i, during), true, nil, newIdleStream())
				qa15FillWindow(t, tun.conn)
				stuck = append(stuck, tun)
				stuckClients = append(stuckClients, c)
			}
			client, reading := openWith(t, f, fmt.Sprintf("tnl-0r315pingreads%v", during), true, nil, newIdleStream())
			pinged := r3PingReader(client)
			pings := make(chan []*tunnel, 1)
			go f.ping(pings)
			sweep := append(append([]*tunnel(nil), stuck...), reading)
			if during {
				pings <- sweep
				if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, "frontdoor.(*pingRun).run")) > 0 }) {
					t.Fatal("the sweep never started")
				}
			} else {
				for k := range 3 {
					pings <- sweep
					select {
					case err := <-pinged:
						if err != nil {
							t.Fatalf("the reading client, sweep %d: %v", k, err)
						}
					case <-time.After(2 * qhBound):
						t.Fatalf("the reading client's ping (sweep %d) never came", k)
					}
				}
				n := 0
				if !goroutines.Eventually(func() bool { n = len(goroutines.Running(t, "frontdoor.(*pingRun).run")); return n == 3 }) {
					t.Fatalf("%d ping goroutines after three sweeps with three stuck clients, want 3", n)
				}
				// The first stuck client reads again: its ping returns, its
				// goroutine ends, and the next sweep pings it.
				var got atomic.Int32
				go r3Pings(stuckClients[0], &got)
				if !goroutines.Eventually(func() bool { n = len(goroutines.Running(t, "frontdoor.(*pingRun).run")); return n == 2 }) {
					t.Fatalf("%d ping goroutines once a stuck client reads again, want 2", n)
				}
				pings <- sweep
				if !goroutines.Eventually(func() bool { return got.Load() >= 2 }) {
					t.Fatalf("the client that reads again got %d pings, want its stuck one and the next sweep's", got.Load())
				}
				select {
				case err := <-pinged:
					if err != nil {
						t.Fatalf("the reading client, sweep 4: %v", err)
					}
				case <-time.After(2 * qhBound):
					t.Fatal("the reading client's ping (sweep 4) never came")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 4*qhBound)
			defer cancel()
			if err := f.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			n := 0
			if !goroutines.Eventually(func() bool { n = r3PingGoroutines(t); return n == 0 }) {
				t.Errorf("%d ping goroutines after Shutdown, want 0", n)
			}
			noTunnelGoroutines(t)
		})
	}
}
