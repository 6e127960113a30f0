package frontdoor

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/wire/wsframe"
)

// countingStream counts the client's bytes handed to the agent's side
// before its End (SendEnd).
type countingStream struct {
	*sendingStream
	carried atomic.Int64
}

func (s *countingStream) SendData(frame []byte) error {
	if s.ended() == "" {
		s.carried.Add(int64(len(frame)))
	}
	return nil
}

// A tunnel Terminate ended (TerminateTunnel, revocation, shutdown) carries
// none of its client's later bytes to the target, also when its client
// stopped reading while its target sends (the write to the client waits
// for its 60 s deadline holding the writer, and finish writes the close
// frame before it ends the agent's side).
func TestR2TerminatedTunnelCarriesNoMoreBytes(t *testing.T) {
	f, _ := idleDoor(t, time.Hour)
	release := make(chan struct{})
	unstick := sync.OnceFunc(func() { close(release) })
	defer unstick()
	s := &countingStream{sendingStream: &sendingStream{idleStream: newIdleStream(), go_: make(chan struct{})}}
	client, stuck := openWith(t, f, "tnl-r2000000000000stuck", false, func(c net.Conn) net.Conn { return blockWrites{c, release} }, s)
	close(s.go_) // the target sends: the write to the client waits
	if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, "frontdoor.blockWrites.Write")) > 0 }) {
		t.Fatal("the write to the stuck client never started")
	}
	go f.Terminate(func(TunnelInfo) bool { return true }, wsframe.CloseGoingAway, "TestEnd", "ended by the test")
	if !goroutines.Eventually(stuck.isEnded) {
		t.Fatal("Terminate did not decide the tunnel's end")
	}
	// The client, which reads nothing, sends on.
	if err := ws.WriteFrame(client, ws.MaskFrame(ws.NewBinaryFrame([]byte("after the end")))); err != nil {
		t.Fatal(err)
	}
	if goroutines.Eventually(func() bool { return s.carried.Load() > 0 }) {
		t.Errorf("%d bytes of the client's carried to the target after Terminate ended the tunnel (its agent side not yet ended)", s.carried.Load())
	}
	unstick()
	waitRuns(t, f)
}
