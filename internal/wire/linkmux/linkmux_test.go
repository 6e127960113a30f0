package linkmux

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"testing"
)

// recorder counts the writes that reach the connection.
type recorder struct {
	net.Conn
	mu     sync.Mutex
	writes []int
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, len(b))
	r.mu.Unlock()
	return r.Conn.Write(b)
}

// Bytes of every size cross a coalesced yamux link intact, small frames
// leave in one write with their header, and a stream's close (a header
// with no body) is not held back.
func TestCoalesceConn(t *testing.T) {
	a, b := net.Pipe()
	rec := &recorder{Conn: a}
	opener, err := Opener(rec, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer opener.Close()
	acceptor, err := Acceptor(b, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer acceptor.Close()
	sizes := []int{1, 100, 16 << 10, 16<<10 + 1, 200 << 10}
	done := make(chan error, 1)
	go func() {
		s, err := acceptor.Accept()
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(s, s) // echo until the opener closes its side
		s.Close()
		done <- err
	}()
	s, err := opener.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sizes {
		msg := make([]byte, n)
		rand.Read(msg)
		rec.mu.Lock()
		rec.writes = nil
		rec.mu.Unlock()
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, n)
		if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: echo differs (%v)", n, err)
		}
		if n == 100 {
			rec.mu.Lock()
			w := append([]int(nil), rec.writes...)
			rec.mu.Unlock()
			if len(w) == 0 || w[0] != yamuxHeaderLen+100 {
				t.Errorf("a 100-byte frame left in writes %v, want one of %d", w, yamuxHeaderLen+100)
			}
		}
	}
	s.Close() // a FIN: header only
	if err := <-done; err != nil {
		t.Fatalf("the acceptor's echo: %v", err)
	}
}
