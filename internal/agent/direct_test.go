package agent_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/tunneltest"
)

// The agent writes a tunnel's bytes to its target from the link's receive
// loop while the target's socket has room, and from the tunnel's own
// goroutine when it has none. A target that stops reading in the middle
// of a transfer (its socket full, the agent's write refused) stalls no
// other tunnel on the link, and once it reads again it gets every byte,
// in order, with its end after them.
func TestTargetThatStopsReading(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	a := e.StartAgent(ep, fastCfg())
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	echo := tunneltest.Echo(t)

	// The stalling target reads its first MiB, waits for release, then
	// reads to the end.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	release := make(chan struct{})
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		head := make([]byte, 1<<20)
		if _, err := io.ReadFull(c, head); err != nil {
			got <- nil
			return
		}
		<-release
		rest, _ := io.ReadAll(c)
		got <- append(head, rest...)
	}()

	// More than every buffer on the path holds (socket buffers of up to
	// 4 and 6 MiB on each of the three hops, the link's 1 MiB window).
	payload := make([]byte, 64<<20)
	rand.Read(payload)
	d := e.Dialer(e.Admin)
	stalled, err := d.Dial(context.Background(), target(e, ep, ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	wrote := make(chan error, 1)
	go func() {
		_, err := stalled.Write(payload)
		if err == nil {
			err = stalled.CloseWrite()
		}
		wrote <- err
	}()

	// Another tunnel through the same agent moves 8 MiB both ways
	// meanwhile.
	other, err := d.Dial(context.Background(), target(e, ep, echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	msg := make([]byte, 8<<20)
	rand.Read(msg)
	if err := tunneltest.RoundTrip(other, msg); err != nil {
		t.Fatalf("a tunnel beside the stalled one: %v", err)
	}
	select {
	case err := <-wrote:
		t.Fatalf("the stalled tunnel's writer finished (%v) while the target read nothing", err)
	default:
	}

	close(release)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	b := <-got
	if !bytes.Equal(b, payload) {
		t.Fatalf("the target got %d bytes, not the %d sent in order", len(b), len(payload))
	}
}
