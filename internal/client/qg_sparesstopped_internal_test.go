//go:build linux

package client

import (
	"testing"
	"time"
)

// Once no tunnel was opened for spareWarm, the last spare's expiry makes
// none in its place and calls OnSparesStopped's function, once: the
// moment an idle --local-port client gives back what its spares' handshakes
// and closes mapped (internal/cli). While tunnels are being opened, an
// expiry replaces the spare and calls nothing.
func TestOnSparesStopped(t *testing.T) {
	tests := []struct {
		name   string
		spares int // spares kept (want)
		warm   int // expiries while warm (each replaced) before the stop
	}{
		{"one spare, replaced while warm", 1, 3},
		{"several spares at the stop", 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpareServer(t, true)
			d := s.dialer()
			stopped := make(chan struct{}, 16)
			d.OnSparesStopped(func() { stopped <- struct{}{} })
			p := d.pool()
			p.mu.Lock()
			p.ttl, p.want = minSpareTTL, tc.spares // expiries come fast
			p.mu.Unlock()
			d.KeepSpares("example.com")
			defer d.CloseSpares()
			if n := spares(d); tc.warm == 0 && n != tc.spares {
				t.Fatalf("%d spares being made, want %d", n, tc.spares)
			}
			if tc.warm > 0 {
				// Warm: each expired spare is replaced (a new connection
				// reaches the server) and nothing is called.
				for range tc.spares + tc.warm {
					s.nextAccepted(t)
				}
				select {
				case <-stopped:
					t.Fatal("called while tunnels were still being opened (within spareWarm)")
				default:
				}
			}
			// The last open was spareWarm ago (set before any of the
			// spares just started can expire, without warm): the spares
			// expire, none is replaced, and the last one's expiry calls it.
			p.mu.Lock()
			p.lastUse = time.Now().Add(-spareWarm)
			p.mu.Unlock()
			select {
			case <-stopped:
			case <-time.After(waitTimeout):
				t.Fatalf("not called after spare-keeping stopped (%d spares left)", spares(d))
			}
			if n := spares(d); n != 0 {
				t.Fatalf("%d spares when called, want none", n)
			}
			// Nothing is left to expire: no second call can come.
			d.CloseSpares()
			if n := len(stopped); n != 0 {
				t.Fatalf("called %d more times, want once", n)
			}
		})
	}
}
