//go:build linux

package frontdoor

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/postern/postern/internal/testutil/goroutines"
)

// TestR2WatchStoppedAtOnceStillSeesAGoneClient: serveTunnel starts the
// client watch only for a dial still running once the record committed,
// and stops it as soon as the dial answers, which may be at once. A
// client that left during the commit must still be reported gone (its
// attempt then ends "before the tunnel opened", its bytes never reach the
// target), even when the watch is stopped before its goroutine looked:
// stop's read deadline in the past made the goroutine's first look fail
// before it asked the socket, and the client was taken for present.
func TestR2WatchStoppedAtOnceStillSeesAGoneClient(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave func(*net.TCPConn)
		want  error
	}{
		{"closed (FIN)", func(c *net.TCPConn) { _ = c.Close() }, io.EOF},
		{"reset", func(c *net.TCPConn) { _ = c.SetLinger(0); _ = c.Close() }, syscall.ECONNRESET},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			// The client sent a byte (as a TLS close_notify stands before
			// the FIN) and left.
			if _, err := client.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			tc.leave(client.(*net.TCPConn))
			if !goroutines.Eventually(func() bool { return peerGone(server) != nil }) {
				t.Fatal("the server's socket never showed the client gone")
			}
			// Many times: whether the watch's goroutine looked before stop
			// is up to the scheduler.
			for i := range 50 {
				w := watchGone(server, func() {})
				if got := w.stop(); !errors.Is(got, tc.want) {
					t.Fatalf("try %d: a watch stopped at once reports %v for a client gone before it, want %v", i, got, tc.want)
				}
			}
		})
	}
}
