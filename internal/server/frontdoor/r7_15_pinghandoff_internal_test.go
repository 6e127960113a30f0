package frontdoor

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/postern/postern/internal/wire/wsframe"
)

// r7Marker is the payload of the ping a test writes after its sweeps'
// runs ended: the pings a client read before it are all it will get.
var r7Marker = []byte("r7-marker")

// r7PingsBefore writes the marker ping to tun's client and counts the
// keepalive pings the client reads before it.
func r7PingsBefore(t *testing.T, client net.Conn, tun *tunnel) int {
	t.Helper()
	if err := tun.wr.Ping(r7Marker); err != nil {
		t.Fatalf("the marker ping: %v", err)
	}
	_ = client.SetReadDeadline(time.Now().Add(qhBound))
	defer client.SetReadDeadline(time.Time{})
	rd := wsframe.NewReader(client, false)
	n := 0
	for {
		fr, err := rd.Next()
		if err != nil {
			t.Fatalf("reading the client's pings: %v", err)
		}
		switch {
		case fr.Kind != wsframe.KindPing:
			t.Fatalf("frame of kind %d, want a ping", fr.Kind)
		case bytes.Equal(fr.Control, r7Marker):
			return n
		case bytes.Equal(fr.Control, pingPayload):
			n++
		}
	}
}

// A sweep's run descheduled for two of the watcher's looks (two stalls)
// at its first tunnel, a, while it is not inside a's ping's write, is
// not left behind: the watcher leaves only a run whose write waits.
// Before, the watcher left it at whatever point it was:
//   - before its stuck lookup of a healthy a: the watcher's own "stuck"
//     mark made the run skip a's ping (race X: a missed the sweep);
//   - skipping a, whose ping from an earlier sweep still waits (a
//     stuck): the left run (or the watcher) took that earlier ping's mark
//     out, and the next sweep pinged a again, a second goroutine on the
//     same stuck client (race Y).
//
// The descheduling is the run's paused hook; the watcher's looks are
// leaveIfStuck called by the test, as pingSweep does on its ticks.
func TestR7_15PingRunDescheduledOutsideAWriteIsNotLeft(t *testing.T) {
	cases := []struct {
		name    string
		stuck   bool // a's ping from an earlier sweep still waits
		checked bool // descheduled after the run looked a up in the stuck set (else before)
	}{
		{"X: healthy, before the lookup", false, false},
		{"healthy, after the lookup", false, true},
		{"Y: stuck, after the lookup", true, true},
		{"Y: stuck, before the lookup", true, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, _ := r3Door(t)
			ca, a := openWith(t, f, fmt.Sprintf("tnl-0r715pinga%d", i), true, nil, newIdleStream())
			cb, b := openWith(t, f, fmt.Sprintf("tnl-0r715pingb%d", i), true, nil, newIdleStream())
			stuck := &stuckPings{ts: map[*tunnel]struct{}{}}
			if c.stuck {
				stuck.add(a) // as the earlier sweep's watcher did when it left a's ping waiting
			}

			r := &pingRun{ts: []*tunnel{a, b}, done: make(chan struct{})}
			at, resume := make(chan struct{}), make(chan struct{})
			paused := false
			r.paused = func(k int64, checked bool) {
				if k == 0 && checked == c.checked && !paused {
					paused = true
					close(at)
					<-resume
				}
			}
			ended := make(chan struct{})
			go func() { r.run(stuck); close(ended) }()
			<-at
			last := int64(-1)
			r.leaveIfStuck(&last, stuck) // a stall's first look
			next, left := r.leaveIfStuck(&last, stuck)
			if left {
				// pingSweep goes on with a new run after the left ping.
				r2 := &pingRun{ts: r.ts[next:], done: make(chan struct{})}
				go r2.run(stuck)
				<-r2.done
			}
			close(resume)
			<-ended

			// A later sweep, undisturbed.
			r3 := &pingRun{ts: []*tunnel{a, b}, done: make(chan struct{})}
			go r3.run(stuck)
			<-r3.done

			wantA := 2 // this sweep's and the later one's
			if c.stuck {
				wantA = 0 // the earlier sweep's ping holds a: no other goroutine writes to it
			}
			if n := r7PingsBefore(t, ca, a); n != wantA {
				t.Errorf("a got %d pings from the two sweeps, want %d (left behind: %v)", n, wantA, left)
			}
			if n := r7PingsBefore(t, cb, b); n != 2 {
				t.Errorf("b got %d pings from the two sweeps, want 2", n)
			}
			stuck.mu.Lock()
			_, marked := stuck.ts[a]
			others := len(stuck.ts)
			stuck.mu.Unlock()
			if marked != c.stuck {
				t.Errorf("a marked stuck after the sweeps: %v, want %v (the earlier sweep's ping still waits: %v)", marked, c.stuck, c.stuck)
			}
			if want := int(stuck.n.Load()); others != want || others > 1 {
				t.Errorf("stuck set of %d tunnels (n %d) after the sweeps, want a's mark at most", others, want)
			}

			// The clients go: their tunnels end at once (no close grace).
			ca.Close()
			cb.Close()
			waitRuns(t, f)
			noTunnelGoroutines(t)
		})
	}
}
