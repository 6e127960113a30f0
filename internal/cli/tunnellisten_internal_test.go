//go:build unix

package cli

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLocalListenerSocketOptions: a connection the --local-port listener
// accepts has TCP keep-alive off (Go's default sets four socket options
// per accepted connection; a loopback peer needs none) and TCP_NODELAY on
// (a tunnel's first bytes leave at once).
func TestLocalListenerSocketOptions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := listenLocal(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The accept's error is reported by the test goroutine (a t.Error
	// after the test returned, when a Fatal below closed the listener,
	// would panic the package's test binary).
	accepted, acceptErr := make(chan net.Conn, 1), make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acceptErr <- err
			return
		}
		accepted <- c
	}()
	local, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	var c net.Conn
	select {
	case c = <-accepted:
	case err := <-acceptErr:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no connection accepted")
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0},
		{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
	}
	for _, tc := range cases {
		var got int
		var gerr error
		if err := rc.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), tc.level, tc.opt) }); err != nil {
			t.Fatal(err)
		}
		if gerr != nil {
			t.Fatalf("%s: %v", tc.name, gerr)
		}
		if (got != 0) != (tc.want != 0) {
			t.Errorf("%s = %d on an accepted local connection, want %d", tc.name, got, tc.want)
		}
	}
}
