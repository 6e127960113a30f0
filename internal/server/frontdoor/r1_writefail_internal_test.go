package frontdoor

import (
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/util/sockwait"
	"github.com/postern/postern/internal/wire/wsframe"
)

// sendingStream is an idleStream whose target sends one chunk once go_
// is closed.
type sendingStream struct {
	*idleStream
	go_  chan struct{}
	sent bool
}

func (s *sendingStream) Recv(get func(int) []byte) ([]byte, error) {
	if !s.sent {
		s.sent = true
		select {
		case <-s.go_:
			b := get(5)
			return b[:copy(b, "hello")], nil
		case <-s.gone:
			return nil, net.ErrClosed
		}
	}
	return s.idleStream.Recv(get)
}

// failWrites is a client connection whose writes fail with err (the
// write deadline a client that stopped reading meets, or its reset)
// while its reads go on.
type failWrites struct {
	net.Conn
	err error
}

func (c failWrites) Write([]byte) (int, error) { return 0, c.err }

func (c failWrites) on(conn net.Conn) net.Conn { c.Conn = conn; return c }

// A tunnel whose write to its client failed (agentToClient: clientGone,
// the outcome decided without a close frame) while the client is idle
// still ends, is recorded and leaves nothing running, whether its reader
// waits in the sockwait.Poller (which sees no read deadline) or on a
// goroutine: by keepalive's sweep once the client was silent for three
// ping intervals (as the reader's read deadline did), or at once when the
// server then ends it (Terminate: shutdown, revocation, maximum
// duration). Before the fix a reader armed in the Poller was never woken:
// keepalive skipped the ended tunnel and finish returned at once, so its
// run never ended (Shutdown waited for its context).
func TestWriteFailureEndsAnIdleTunnel(t *testing.T) {
	_, noPoller := sockwait.Default()
	timeout := &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}
	reset := &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)}
	cases := []struct {
		name      string
		waits     bool // the reader waits on the socket (in the Poller where there is one)
		err       error
		keepalive bool // keepalive's sweep runs (short ping interval); else Terminate ends it
		want      string
	}{
		{"write timeout, reader in the Poller, keepalive", true, timeout, true, "ClientTimeout"},
		{"write reset, reader in the Poller, keepalive", true, reset, true, codeClientGone},
		{"write timeout, reader in the Poller, Terminate", true, timeout, false, "ClientTimeout"},
		{"write timeout, reader on a goroutine, keepalive", false, timeout, true, "ClientTimeout"},
		{"write reset, reader on a goroutine, Terminate", false, reset, false, codeClientGone},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ping := time.Hour // the reader's own deadline never passes in the test
			if c.keepalive {
				ping = 40 * time.Millisecond
			}
			f, st := idleDoor(t, ping)
			if c.keepalive {
				go f.keepalive()
			}
			id := "tnl-r1000000000000000" + string(rune('a'+i))
			s := &sendingStream{idleStream: newIdleStream(), go_: make(chan struct{})}
			client, _ := openWith(t, f, id, c.waits, failWrites{err: c.err}.on, s)
			defer client.Close()
			if c.waits && noPoller == nil {
				if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, "frontdoor.(*tunnel).clientToAgent")) == 0 }) {
					t.Fatal("the idle client's reader did not leave its wait to the Poller")
				}
			}
			close(s.go_) // the target sends; the write to the client fails
			if !goroutines.Eventually(func() bool { return s.ended() != "" }) {
				t.Fatal("the agent's side was not ended after the failed write")
			}
			if !c.keepalive {
				if n := f.Terminate(func(TunnelInfo) bool { return true }, wsframe.CloseGoingAway, "TestEnd", "ended by the test"); n != 1 {
					t.Fatalf("Terminate ended %d tunnels, want 1", n)
				}
			}
			waitRuns(t, f)
			if reason, code := closeReason(t, st, id); reason != c.want || code != 0 {
				t.Errorf("close record: reason %q, code %d; want %s, 0", reason, code, c.want)
			}
			if got := s.ended(); got != c.want {
				t.Errorf("the agent's side was ended with %q, want %s", got, c.want)
			}
			noTunnelGoroutines(t)
		})
	}
}

// blockWrites is a client connection that stopped reading: its writes
// wait until release is closed, then fail.
type blockWrites struct {
	net.Conn
	release chan struct{}
}

func (c blockWrites) Write([]byte) (int, error) {
	<-c.release
	return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}
}

// A client that stopped reading (a ping to it waits for the write
// deadline, 60 s) does not hold up the end of other tunnels whose
// clients are silent for three ping intervals: keepalive's sweep decides
// their ClientTimeout whatever its pings wait for, as each reader's read
// deadline did before the readers waited in the sockwait.Poller. Before
// the fix the sweep wrote its pings itself and stopped at the stuck one.
func TestStuckPingDoesNotDelayTimeouts(t *testing.T) {
	const ping = 40 * time.Millisecond
	f, st := idleDoor(t, ping)
	release := make(chan struct{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	unstick := sync.OnceFunc(func() {
		close(stop)
		close(release)
		wg.Wait()
	})
	defer unstick()
	// The stuck client: its writer waits; its frames come every two
	// intervals (lastRead kept there), so that each sweep pings it.
	_, stuck := openWith(t, f, "tnl-r1000000000000stuck", true, func(c net.Conn) net.Conn { return blockWrites{c, release} }, newIdleStream())
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			stuck.lastRead.Store(time.Now().Add(-2 * ping).UnixNano())
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	const silentID = "tnl-r100000000000silent"
	_, s := openIdle(t, f, st, silentID, true)
	go f.keepalive()
	if reason, code := closeReason(t, st, silentID); reason != "ClientTimeout" || code != 0 {
		t.Errorf("close record: reason %q, code %d; want ClientTimeout, 0", reason, code)
	}
	if got := s.ended(); got != "ClientTimeout" {
		t.Errorf("the agent's side was ended with %q, want ClientTimeout", got)
	}
	// The stuck tunnel ends too once its writes fail.
	unstick()
	f.Terminate(func(TunnelInfo) bool { return true }, wsframe.CloseGoingAway, "TestEnd", "ended by the test")
	waitRuns(t, f)
}
