//go:build unix

package server

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// TestInheritedListeners: --listen-fd serves a listening socket opened by
// whoever started the server (a supervisor, a test keeping the port
// reserved): connections to its address are accepted by the server's
// listener; descriptors that are not inherited sockets are refused.
func TestInheritedListeners(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := syscall.Dup(int(f.Fd())) // what the child would inherit
	if err != nil {
		t.Fatal(err)
	}
	lns, err := inheritedListeners([]int{fd})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(lns)
	if lns[0].Addr().String() != ln.Addr().String() {
		t.Fatalf("inherited %s, want %s", lns[0].Addr(), ln.Addr())
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := lns[0].Accept()
	if err != nil {
		t.Fatal(err)
	}
	got.Close()

	notSocket, err := os.CreateTemp(t.TempDir(), "file")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := syscall.Dup(int(notSocket.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	notSocket.Close()
	for _, tc := range []struct {
		name string
		fd   int
	}{
		{"stdout", 1},
		{"a plain file", plain},
	} {
		if lns, err := inheritedListeners([]int{tc.fd}); err == nil {
			closeAll(lns)
			t.Errorf("%s: served as a listener", tc.name)
		}
	}
}
