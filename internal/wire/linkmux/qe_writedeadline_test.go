package linkmux

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// deadlineConn records the write deadlines set on a link and, at each
// write, how far ahead the deadline then was.
type deadlineConn struct {
	net.Conn
	mu     sync.Mutex
	moves  int
	wdl    time.Time
	ahead  []time.Duration // the deadline's distance at each write
	counts bool
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	if c.counts {
		c.moves++
	}
	c.wdl = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.counts {
		c.ahead = append(c.ahead, time.Until(c.wdl))
	}
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *deadlineConn) count(on bool) (moves int, ahead []time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = on
	return c.moves, c.ahead
}

// The link's write deadline is moved at most once per tenth of the write
// timeout, not before every frame (each move re-arms a runtime timer,
// which can wake an idle thread of the process), and every frame is still
// written with the deadline at least nine tenths of the timeout ahead.
func TestWriteDeadlineMovesOncePerTenthOfTheTimeout(t *testing.T) {
	const wtime = time.Minute
	a, b := tcpPair(t)
	link := &deadlineConn{Conn: a}
	cli, _ := Opener(link, Config{WriteTimeout: wtime, KeepAliveInterval: time.Hour})
	defer cli.Close()
	_, accept := upstream(t, b, false)
	go echoAll(accept)
	s, err := cli.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The stream's first frame (its SYN) and its echo: the deadline was
	// set once since the session began.
	buf := make([]byte, 1)
	if _, err := s.Write(buf); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	link.count(true)
	const frames = 100
	for range frames {
		if _, err := s.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Fatal(err)
		}
	}
	moves, ahead := link.count(false)
	if len(ahead) < frames {
		t.Fatalf("%d writes on the link for %d frames", len(ahead), frames)
	}
	// Far below a tenth of a minute passes during the loop: at most one
	// move (had the loop crossed the tenth).
	if moves > 1 {
		t.Errorf("the write deadline moved %d times for %d frames, want at most once per %v", moves, frames, wtime/10)
	}
	for i, d := range ahead {
		if d < wtime*9/10 || d > wtime {
			t.Fatalf("write %d: the deadline was %v ahead, want between %v and %v", i, d, wtime*9/10, wtime)
		}
	}
}
