package frontdoor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/relay"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/wire/wsframe"
)

// One client that stopped reading does not delay the pings of the other
// quiet tunnels of the same sweep: the ping after the stuck one reaches
// its client (which reads) although the stuck one's write waits, whether
// that write waits behind a data write to the stuck client (its writer
// busy) or is itself the write that finds the client's TCP window full.
// Before, the pings were written in turn: the reading client's waited
// for the stuck one's write deadline (wsframe.WriteTimeout, 60 s).
func TestQA15StuckClientDoesNotDelayTheOthersPings(t *testing.T) {
	cases := []struct {
		name  string
		flood bool // the stuck client's target floods (a data write waits); else its window is filled beneath the writer
	}{
		{"a data write waits", true},
		{"the ping's own write waits", false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, _ := idleDoor(t, time.Hour) // no keepalive sweeps: the test hands one to ping
			var s relay.Stream = newIdleStream()
			if c.flood {
				s = floodStream{newIdleStream()}
			}
			_, stuck := openWith(t, f, fmt.Sprintf("tnl-0qa15pingstuck%d", i), true, nil, s) // it never reads
			if c.flood {
				last := int64(-1)
				if !goroutines.Eventually(func() bool {
					n := stuck.bytesOut.Load()
					held := n > 0 && n == last
					last = n
					return held
				}) {
					t.Fatal("the write to the client that stopped reading never waited")
				}
			} else {
				qa15FillWindow(t, stuck.conn)
			}
			client, reading := openWith(t, f, fmt.Sprintf("tnl-0qa15pingreads%d", i), true, nil, newIdleStream())
			pinged := make(chan error, 1)
			go func() {
				_ = client.SetReadDeadline(time.Now().Add(4 * qhBound))
				rd := wsframe.NewReader(client, false)
				for range 2 {
					fr, err := rd.Next()
					if err == nil && fr.Kind != wsframe.KindPing {
						err = fmt.Errorf("frame of kind %d, want a ping", fr.Kind)
					}
					pinged <- err
				}
			}()
			pings := make(chan []*tunnel, 1)
			go f.ping(pings)
			// Two sweeps, the stuck one first in each: the second leaves
			// it out (its first ping still waits), so that it holds one
			// goroutine, not one per sweep.
			for sweep := range 2 {
				pings <- []*tunnel{stuck, reading}
				select {
				case err := <-pinged:
					if err != nil {
						t.Fatalf("the reading client, sweep %d: %v", sweep, err)
					}
				case <-time.After(qhBound):
					t.Fatalf("the reading client's ping (sweep %d) waited for the stuck client's write", sweep)
				}
			}
			n := 0
			if !goroutines.Eventually(func() bool { n = len(goroutines.Running(t, "frontdoor.(*pingRun).run")); return n == 1 }) {
				t.Errorf("%d ping goroutines after two sweeps with one stuck client, want 1 (the stuck one)", n)
			}
			f.Terminate(func(TunnelInfo) bool { return true }, wsframe.CloseGoingAway, "TestEnd", "ended by the test")
			waitRuns(t, f)
			// The stuck ping ends with its tunnel (its write cut at the close grace).
			if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, "frontdoor.(*pingRun).run")) == 0 }) {
				t.Error("a ping goroutine outlived its tunnel")
			}
		})
	}
}

// qa15FillWindow writes to the server's end of a tunnel's connection,
// beneath its writer, until its client's TCP window and both socket
// buffers are full (a write finds no room at all for its write
// deadline), and
// leaves the connection without a write deadline.
func qa15FillWindow(t *testing.T, c net.Conn) {
	t.Helper()
	junk := make([]byte, 256<<10)
	for range 10_000 { // bounded: a few MiB of buffers at most
		_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Write(junk)
		if errors.Is(err, os.ErrDeadlineExceeded) && n == 0 {
			_ = c.SetWriteDeadline(time.Time{})
			return
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal(err)
		}
	}
	t.Fatal("the client's window never filled")
}
