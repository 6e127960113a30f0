package wsframe

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// deadlineConn is a real TCP connection that records the write deadlines
// set on it.
type deadlineConn struct {
	net.Conn
	mu   sync.Mutex
	sets []time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.sets = append(c.sets, t)
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) deadlines() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.sets...)
}

// tcpPair is a loopback TCP connection; the far end's bytes are read and
// dropped until it closes.
func tcpPair(t *testing.T) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	far, ok := <-accepted
	if !ok {
		t.Fatal("no connection accepted")
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, far)
	}()
	t.Cleanup(func() {
		c.Close()
		far.Close()
		<-drained
	})
	return c
}

// A stream of frames moves the connection's write deadline once, not per
// frame (each move is a timer modification), and always to WriteTimeout
// after a write's start, less at most RearmSlack; once the deadline set
// last lags by RearmSlack, the next write moves it again.
func TestWriteDeadlineMovedOncePerSlack(t *testing.T) {
	const frames = 200
	cases := []struct {
		name   string
		client bool
		write  func(w *Writer) error
	}{
		{"WriteData", true, func(w *Writer) error {
			b := make([]byte, MaxHeader+1000)
			return w.WriteData(b, MaxHeader)
		}},
		{"WriteDataSplit", true, func(w *Writer) error {
			b := make([]byte, MaxHeader+3000)
			return w.WriteDataSplit(b, MaxHeader, 1000)
		}},
		{"WriteDataParts", false, func(w *Writer) error { return w.WriteDataParts(make([]byte, 3000), 1000) }},
		{"Ping", false, func(w *Writer) error { return w.Ping([]byte("p")) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &deadlineConn{Conn: tcpPair(t)}
			w := NewWriter(c, tc.client)
			start := time.Now()
			for i := range frames {
				if err := tc.write(w); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			end := time.Now()
			sets := c.deadlines()
			// Once, or on a machine so slow the frames took more than
			// RearmSlack, once more per RearmSlack at most.
			if most := 1 + int(end.Sub(start)/RearmSlack); len(sets) > most {
				t.Fatalf("%d frames in %v set the write deadline %d times, want at most %d", frames, end.Sub(start), len(sets), most)
			}
			if d := sets[0]; d.Before(start.Add(WriteTimeout)) || d.After(end.Add(WriteTimeout)) {
				t.Fatalf("write deadline %v, want WriteTimeout after the first write (%v..%v)", d, start.Add(WriteTimeout), end.Add(WriteTimeout))
			}
			// The deadline set last now lags by more than RearmSlack (as
			// it would RearmSlack after it was set): the next write moves it.
			w.mu.Lock()
			w.armed = time.Now().Add(WriteTimeout - RearmSlack - time.Millisecond)
			w.mu.Unlock()
			before := time.Now()
			if err := tc.write(w); err != nil {
				t.Fatal(err)
			}
			sets = c.deadlines()
			last := sets[len(sets)-1]
			if len(sets) < 2 || last.Before(before.Add(WriteTimeout)) {
				t.Fatalf("a lagging deadline was not moved: sets %v", sets)
			}
		})
	}
}
