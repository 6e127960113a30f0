//go:build unix

package sockio

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadNowAndReadableNow: on a real loopback TCP socket, ReadNow and
// ReadableNow answer at once whether the peer sent nothing (would block,
// not readable), sent bytes (read, readable, and the peek leaves them for
// the read), closed (io.EOF, readable) or reset (ECONNRESET, readable),
// and when the connection was closed here (net.ErrClosed, readable).
// Each is checked on its own connection, so neither's system call
// changes what the other finds.
func TestReadNowAndReadableNow(t *testing.T) {
	tests := []struct {
		name     string
		act      func(local, peer *net.TCPConn) error
		arrives  bool // something is on its way: wait (bounded) until the socket is readable
		p        int  // ReadNow's buffer
		readable bool
		want     string           // ReadNow's bytes
		wantErr  func(error) bool // nil: no error
	}{
		{name: "nothing sent", act: func(_, _ *net.TCPConn) error { return nil }, p: 16,
			wantErr: func(err error) bool { return errors.Is(err, ErrWouldBlock) }},
		{name: "bytes", act: func(_, peer *net.TCPConn) error { _, err := peer.Write([]byte("hello")); return err },
			arrives: true, p: 16, readable: true, want: "hello"},
		{name: "bytes, read into nothing", act: func(_, peer *net.TCPConn) error { _, err := peer.Write([]byte("hello")); return err },
			arrives: true, p: 0, readable: true, want: ""},
		{name: "peer closed", act: func(_, peer *net.TCPConn) error { return peer.Close() },
			arrives: true, p: 16, readable: true, wantErr: func(err error) bool { return err == io.EOF }},
		{name: "peer reset", act: func(_, peer *net.TCPConn) error {
			if err := peer.SetLinger(0); err != nil {
				return err
			}
			return peer.Close()
		}, arrives: true, p: 16, readable: true, wantErr: func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }},
		{name: "closed here", act: func(local, _ *net.TCPConn) error { return local.Close() }, p: 16, readable: true,
			wantErr: func(err error) bool { return errors.Is(err, net.ErrClosed) }},
	}
	for _, tc := range tests {
		start := func(t *testing.T) syscall.RawConn {
			t.Helper()
			local, peer := tcpPair(t, false)
			rc, err := local.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.act(local, peer); err != nil {
				t.Fatal(err)
			}
			if tc.arrives {
				pollReadable(t, rc)
			}
			return rc
		}
		t.Run(tc.name+"/ReadNow", func(t *testing.T) {
			rc := start(t)
			p := make([]byte, tc.p)
			n, err := ReadNow(rc, p)
			if got := string(p[:n]); got != tc.want {
				t.Errorf("ReadNow read %q, want %q", got, tc.want)
			}
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("ReadNow: %v", err)
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Fatalf("ReadNow: error %v (%T), want another", err, err)
			}
		})
		t.Run(tc.name+"/ReadableNow", func(t *testing.T) {
			rc := start(t)
			if got := ReadableNow(rc); got != tc.readable {
				t.Fatalf("ReadableNow %v, want %v", got, tc.readable)
			}
			if tc.want == "" {
				return
			}
			// The peek took nothing: the read that follows gets it all.
			p := make([]byte, 16)
			if n, err := ReadNow(rc, p); err != nil || string(p[:n]) != tc.want {
				t.Fatalf("after the peek ReadNow read %q, %v; want %q", p[:n], err, tc.want)
			}
		})
	}
}

// pollReadable waits, with poll(2) and at most 10 s, until the socket
// behind rc is readable (bytes, its end or an error), consuming nothing.
func pollReadable(t *testing.T, rc syscall.RawConn) {
	t.Helper()
	var perr error
	var revents int16
	err := rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for range 100 { // bounded: retried only when a signal interrupts it
			var n int
			n, perr = unix.Poll(fds, 10_000)
			if perr != unix.EINTR {
				if n == 0 && perr == nil {
					perr = errors.New("not readable within 10 s")
				}
				break
			}
		}
		revents = fds[0].Revents
	})
	if err != nil || perr != nil {
		t.Fatalf("waiting for the socket to be readable: %v, %v (revents %#x)", err, perr, revents)
	}
}
