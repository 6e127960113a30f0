package heldconn

import (
	"io"
	"net"
	"testing"
)

// Writes made while held reach the peer in one read, after Release.
func TestHoldAndRelease(t *testing.T) {
	a, b := net.Pipe() // a pipe delivers each write to one read
	defer a.Close()
	defer b.Close()
	c := &Conn{Conn: a}
	c.Hold()
	for _, s := range []string{"one ", "two ", "three"} {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, _ := b.Read(buf)
		got <- string(buf[:n])
	}()
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "one two three" {
		t.Errorf("one read got %q, want the three writes together", s)
	}
	go func() { _, _ = c.Write([]byte("after")) }()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "after" {
		t.Errorf("a write after Release: %q, %v", buf, err)
	}
}
