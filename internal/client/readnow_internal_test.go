//go:build unix

package client

import (
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
)

// readNoWait and readableNow on a real loopback TCP socket: nothing yet
// (would block, not readable), bytes (read at once, readable), the peer's
// end (io.EOF, readable), at each step.
func TestReadNoWaitAndReadableNow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	far, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	near, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer near.Close()
	rc, err := near.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)

	steps := []struct {
		name       string
		peer       func() error // what the far end does first
		readable   bool
		p          []byte
		n          int
		err        error
		wouldBlock bool
	}{
		{name: "nothing sent", peer: func() error { return nil }, p: buf, wouldBlock: true},
		{name: "bytes", peer: func() error { _, err := far.Write([]byte("hello")); return err }, readable: true, p: buf, n: 5},
		{name: "peer's end", peer: func() error { return far.(*net.TCPConn).CloseWrite() }, readable: true, p: buf, err: io.EOF},
	}
	for _, s := range steps {
		if err := s.peer(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.readable {
			// Loopback delivers within the peer's write; bounded all the same.
			for i := 0; i < 1000 && !readableNow(rc); i++ {
				runtime.Gosched()
			}
		}
		if got := readableNow(rc); got != s.readable {
			t.Fatalf("%s: readableNow %v, want %v", s.name, got, s.readable)
		}
		n, err, wouldBlock := readNoWait(rc, s.p)
		if n != s.n || !errors.Is(err, s.err) || wouldBlock != s.wouldBlock {
			t.Fatalf("%s: readNoWait = %d, %v, %v; want %d, %v, %v", s.name, n, err, wouldBlock, s.n, s.err, s.wouldBlock)
		}
	}
}
