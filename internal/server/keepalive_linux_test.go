//go:build linux

package server

import (
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAcceptedConnectionsKeepAlive: a connection accepted by listenAll's
// listeners, IPv4 and IPv6, has TCP keepalive on with the listener's
// settings (15 s idle, 15 s between probes, 9 probes), although Go no
// longer sets it on each accepted connection: the kernel copied it from
// the listening socket. It fails if the listener's Control is dropped
// while Go's per-connection setting stays off.
func TestAcceptedConnectionsKeepAlive(t *testing.T) {
	addrs := []string{"127.0.0.1:0"}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil { // IPv6 only where the host has it
		ln.Close()
		addrs = append(addrs, "[::1]:0")
	} else {
		t.Logf("no IPv6 loopback here (%v): IPv4 only", err)
	}
	lns, err := listenAll(addrs)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(lns)
	for _, ln := range lns {
		t.Run(ln.Addr().String(), func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			a, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			raw, err := a.(syscall.Conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range []struct {
				name       string
				level, opt int
				want       int
			}{
				{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
				{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, keepAliveIdle},
				{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, keepAliveInterval},
				{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAliveCount},
				{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
			} {
				var got int
				var gerr error
				if err := raw.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), o.level, o.opt) }); err != nil {
					t.Fatal(err)
				}
				if gerr != nil {
					t.Fatalf("%s: %v", o.name, gerr)
				}
				if got != o.want {
					t.Errorf("accepted connection's %s = %d, want %d", o.name, got, o.want)
				}
			}
		})
	}
	// The per-connection setting is off: only the listener carries it.
	if lc := listenConfig(); lc.KeepAlive >= 0 || lc.Control == nil {
		t.Errorf("listenConfig %+v: want KeepAlive < 0 (no per-connection setting) and a Control", lc)
	}
}
