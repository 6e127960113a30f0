package frontdoor

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// qhBound bounds the tests' waits for an end the server decides at once
// (tunneltest.EventBound's value): far above the promise, far below the
// 60 s (wsframe.WriteTimeout) a write to a client that stopped reading
// waited for before.
const qhBound = 10 * time.Second

// floodStream is an idleStream whose target sends without pause until
// the stream is ended or closed: its client, if it stops reading, fills
// the TCP window and the server's write to it waits.
type floodStream struct{ *idleStream }

func (s floodStream) Recv(get func(int) []byte) ([]byte, error) {
	select {
	case <-s.gone:
		return nil, net.ErrClosed
	default:
	}
	b := get(32 << 10)
	clear(b)
	return b, nil
}

// readClose reads the client's frames until the server's close frame
// (bounded by qhBound) and returns its code and reason.
func readClose(t *testing.T, c net.Conn) (int, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(qhBound))
	rd := wsframe.NewReader(c, false)
	for {
		fr, err := rd.Next()
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if fr.Kind == wsframe.KindClose {
			return fr.Code, fr.Reason
		}
		for rd.Remaining() > 0 {
			if _, err := rd.ReadPayload(make([]byte, 4096)); err != nil {
				t.Fatalf("no close frame: %v", err)
			}
		}
	}
}

// Terminate (TerminateTunnel, shutdown) is not held by a tunnel whose
// client stopped reading while its target sends (an ssh client suspended
// with Ctrl-Z during output): that tunnel's write to the client waits
// for its deadline holding the client's writer, and the close frame
// needs that writer. The other tunnels Terminate ends are ended at once,
// and Terminate returns. (R2's test.) Before the fix Terminate wrote the
// close frame itself and waited for the stuck write.
func TestQHTerminateNotHeldByAClientThatStoppedReading(t *testing.T) {
	f, _ := idleDoor(t, time.Hour)
	release := make(chan struct{})
	unstick := sync.OnceFunc(func() { close(release) })
	defer unstick()
	s := &sendingStream{idleStream: newIdleStream(), go_: make(chan struct{})}
	openWith(t, f, "tnl-0qh00000000000stuck", false, func(c net.Conn) net.Conn { return blockWrites{c, release} }, s)
	otherClient, other := openIdle(t, f, nil, "tnl-0qh0000000000others", false)
	close(s.go_) // the target sends: the write to the client waits
	if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, "frontdoor.blockWrites.Write")) > 0 }) {
		t.Fatal("the write to the stuck client never started")
	}
	done := make(chan int, 1)
	go func() {
		done <- f.Terminate(func(TunnelInfo) bool { return true }, wsframe.CloseGoingAway, "TestEnd", "ended by the test")
	}()
	returned := false
	select {
	case n := <-done:
		returned = true
		if n != 2 {
			t.Errorf("Terminate ended %d tunnels, want 2", n)
		}
	case <-time.After(qhBound):
		t.Errorf("Terminate did not return within %v: held by the write to the client that stopped reading", qhBound)
	}
	if !goroutines.Eventually(func() bool { return other.ended() != "" }) || other.ended() != "TestEnd" {
		t.Errorf("the other tunnel's agent side was ended with %q, want TestEnd", other.ended())
	}
	if code, reason := readClose(t, otherClient); code != wsframe.CloseGoingAway || reason != "ended by the test" {
		t.Errorf("the other client read close %d %q, want %d %q", code, reason, wsframe.CloseGoingAway, "ended by the test")
	}
	unstick()
	if !returned {
		select {
		case <-done:
		case <-time.After(qhBound):
			t.Fatal("Terminate never returned")
		}
	}
	waitRuns(t, f)
}

// A revocation that ends several tunnels, one of whose clients stopped
// reading, ends the others at once: each is on record as Revoked and its
// client reads the close frame (1008 and the reason), whichever comes
// first in the re-check's order. Before the fix the re-check wrote each
// close frame itself and waited up to 60 s for the stuck client's.
func TestQHRevocationNotHeldByAClientThatStoppedReading(t *testing.T) {
	f, st := idleDoor(t, time.Hour)
	release := make(chan struct{})
	unstick := sync.OnceFunc(func() { close(release) })
	defer unstick()
	s := &sendingStream{idleStream: newIdleStream(), go_: make(chan struct{})}
	_, stuck := openWith(t, f, "tnl-0qh0000000000stuckr", false, func(c net.Conn) net.Conn { return blockWrites{c, release} }, s)
	type open struct {
		client net.Conn
		tun    *tunnel
		stream *idleStream
		id     string
	}
	var others []open
	for _, id := range []string{"tnl-0qh00000000000revka", "tnl-0qh00000000000revkb", "tnl-0qh00000000000revkc"} {
		st := newIdleStream()
		c, tun := openWith(t, f, id, true, nil, st)
		others = append(others, open{c, tun, st, id})
	}
	close(s.go_)
	if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, "frontdoor.blockWrites.Write")) > 0 }) {
		t.Fatal("the write to the stuck client never started")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// As decideAgain does: in turn, the stuck one first.
		stuck.revoke("the test's policy was detached")
		for _, o := range others {
			o.tun.revoke("the test's policy was detached")
		}
	}()
	select {
	case <-done:
	case <-time.After(qhBound):
		t.Errorf("the revocation did not end within %v: held by the write to the client that stopped reading", qhBound)
	}
	const wantReason = "Access was revoked: the test's policy was detached"
	for _, o := range others {
		if got := o.stream.ended(); got != tunnelproto.CodeRevoked {
			t.Errorf("%s: the agent's side was ended with %q, want %s", o.id, got, tunnelproto.CodeRevoked)
		}
		if code, reason := readClose(t, o.client); code != wsframe.ClosePolicyViolation || reason != wantReason {
			t.Errorf("%s: the client read close %d %q, want %d %q", o.id, code, reason, wsframe.ClosePolicyViolation, wantReason)
		}
		o.client.Close() // rather than answer: the tunnel ends at once
		if reason, code := closeReason(t, st, o.id); reason != tunnelproto.CodeRevoked || code != wsframe.ClosePolicyViolation {
			t.Errorf("%s: close record %q %d, want %s %d", o.id, reason, code, tunnelproto.CodeRevoked, wsframe.ClosePolicyViolation)
		}
	}
	unstick()
	<-done
	waitRuns(t, f)
	if reason, code := closeReason(t, st, "tnl-0qh0000000000stuckr"); reason != tunnelproto.CodeRevoked || code != wsframe.ClosePolicyViolation {
		t.Errorf("the stuck tunnel's close record %q %d, want %s %d", reason, code, tunnelproto.CodeRevoked, wsframe.ClosePolicyViolation)
	}
}

// Shutdown with a client that stopped reading while its target sends
// (a real TCP connection whose window filled) ends within its budget:
// the stuck write and the close frame end by the close grace, the
// tunnel's close is on record (ServerStop, 1001) when Shutdown returns,
// and a client that reads gets its close frame. Before the fix the close
// frame's write waited for the stuck write (up to 60 s) and Shutdown ran
// out of its context.
func TestQHShutdownWithAClientThatStoppedReading(t *testing.T) {
	for _, waits := range []bool{true, false} {
		name := "reader on a goroutine"
		if waits {
			name = "reader in the Poller"
		}
		t.Run(name, func(t *testing.T) {
			f, st := idleDoor(t, time.Hour) // close grace 2 s
			f.closedDone = true             // idleDoor's cleanup closes done
			id, otherID := "tnl-0qh000000000flooda", "tnl-0qh000000000othera"
			if waits {
				id, otherID = "tnl-0qh000000000floodb", "tnl-0qh000000000otherb"
			}
			s := floodStream{newIdleStream()}
			_, tun := openWith(t, f, id, waits, nil, s) // its client never reads
			otherClient, _ := openIdle(t, f, st, otherID, waits)
			// The flood's write waits once the window is full: its bytes
			// stop growing.
			last := int64(-1)
			if !goroutines.Eventually(func() bool {
				n := tun.bytesOut.Load()
				held := n > 0 && n == last
				last = n
				return held
			}) {
				t.Fatal("the write to the client that stopped reading never waited")
			}
			ctx, cancel := context.WithTimeout(context.Background(), qhBound)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- f.Shutdown(ctx) }()
			if code, reason := readClose(t, otherClient); code != wsframe.CloseGoingAway || reason != shuttingDown {
				t.Errorf("the other client read close %d %q, want %d %q", code, reason, wsframe.CloseGoingAway, shuttingDown)
			}
			otherClient.Close()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Shutdown with a client that stopped reading: %v", err)
				}
			case <-time.After(2 * qhBound):
				t.Fatal("Shutdown never returned")
			}
			if reason, code := closeReason(t, st, id); reason != tunnelproto.CodeServerStop || code != wsframe.CloseGoingAway {
				t.Errorf("close record %q %d, want %s %d", reason, code, tunnelproto.CodeServerStop, wsframe.CloseGoingAway)
			}
		})
	}
}
