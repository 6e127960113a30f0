package client_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/goroutines"
)

// Listener.Drained is called once a burst of opens is over — after the
// last open of a burst in which more connections came than could open at
// once — and never for opens one at a time or for a burst that all opened
// at once. Listener.Queued is called once in such a burst, when a
// connection has to wait its turn, before Drained.
func TestListenerDrained(t *testing.T) {
	const conns = 6
	cases := []struct {
		name     string
		limit    int  // MaxOpening
		together bool // the connections come at once (else one after another)
		want     int64
	}{
		{"a burst larger than the slots", 2, true, 1},
		{"a burst that opens at once", conns, true, 0},
		{"one at a time", 2, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var answered atomic.Int64
			arrived := make(chan struct{}, conns)
			release := make(chan struct{})
			d := hiServer(t, func(r *http.Request) {
				arrived <- struct{}{}
				if c.together {
					<-release
				}
				answered.Add(1)
			})
			ln := listenLocal(t)
			var err error
			var drained, answeredThen, openingThen, queued, queuedThen atomic.Int64
			var out syncBuf
			var l *client.Listener
			l = &client.Listener{Dialer: d, Target: client.Target{EndpointID: "eice-0123456789abcdef0", DNSName: "example.com",
				PrivateIP: "10.0.0.1", RemotePort: 22}, Max: conns, MaxOpening: c.limit, Out: &out,
				Queued: func() { queued.Add(1) },
				Drained: func() {
					drained.Add(1)
					queuedThen.Store(queued.Load())
					answeredThen.Store(answered.Load())
					openingThen.Store(l.Opening())
				}}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- l.Serve(ctx, ln) }()
			defer func() {
				cancel()
				if err := <-served; err != nil {
					t.Error(err)
				}
			}()
			read := func(i int, lc net.Conn) {
				_ = lc.SetReadDeadline(time.Now().Add(30 * time.Second))
				got, err := io.ReadAll(lc)
				if string(got) != "hi" || err != nil {
					t.Fatalf("connection %d: read %q, %v\n%s", i, got, err, out.String())
				}
			}
			locals := make([]net.Conn, conns)
			for i := range locals {
				if locals[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
					t.Fatal(err)
				}
				defer locals[i].Close()
				if !c.together {
					read(i, locals[i])
				}
			}
			if c.together {
				// Every connection was accepted (bounded polling of the
				// Listener's messages) and the first opens reached the
				// server, which holds them: the burst is one.
				for deadline := time.Now().Add(30 * time.Second); strings.Count(out.String(), "Accepted new tcp connection") < conns; {
					if time.Now().After(deadline) {
						t.Fatalf("the listener did not accept %d connections:\n%s", conns, out.String())
					}
					time.Sleep(5 * time.Millisecond)
				}
				for range min(c.limit, conns) {
					<-arrived
				}
				if n := drained.Load(); n != 0 {
					t.Fatalf("Drained called %d times while opens were held", n)
				}
				if n := queued.Load(); n != c.want {
					t.Fatalf("Queued called %d times with %d connections accepted and %d slots, want %d", n, conns, c.limit, c.want)
				}
				// The Listener writes a connection's "Accepted" message
				// before it counts the connection as opening: the last
				// one's count may come a moment after its message.
				if !goroutines.Eventually(func() bool { return l.Opening() == conns }) {
					t.Errorf("Opening is %d with %d connections accepted and none opened", l.Opening(), conns)
				}
				close(release)
				for i, lc := range locals {
					read(i, lc)
				}
			}
			if n := drained.Load(); n != c.want {
				t.Fatalf("Drained called %d times, want %d", n, c.want)
			}
			if n := queued.Load(); n != c.want {
				t.Fatalf("Queued called %d times, want %d", n, c.want)
			}
			if c.want > 0 && queuedThen.Load() != 1 {
				t.Errorf("Drained was called before Queued")
			}
			if c.want > 0 && (answeredThen.Load() != conns || openingThen.Load() != 0) {
				t.Errorf("Drained was called when the server had answered %d of %d opens, with Opening %d",
					answeredThen.Load(), conns, openingThen.Load())
			}
			if n := l.Opening(); n != 0 {
				t.Errorf("Opening is %d once every tunnel is open", n)
			}
		})
	}
}
