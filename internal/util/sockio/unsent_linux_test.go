package sockio

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUnsent: on a real loopback TCP pair with small buffers, Unsent's
// raw ioctl says what x/sys/unix's ordinary one says (SIOCOUTQ): nothing
// for a socket that sent nothing, the bytes still queued once a peer that
// does not read let the socket fill; and it reports ok false for a
// connection closed here.
func TestUnsent(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fill      bool // write until the socket takes no more
		close     bool // close the connection first
		wantOK    bool
		wantEmpty bool
	}{
		{name: "nothing sent", wantOK: true, wantEmpty: true},
		{name: "peer not reading", fill: true, wantOK: true},
		{name: "closed here", close: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, _ := tcpPair(t, true)
			rc, err := local.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			written := 0
			if tc.fill {
				chunk := bytes.Repeat([]byte{'x'}, 64<<10)
				for i := 0; i < 4096; i++ { // bounded: small buffers fill within a few chunks
					n, err := WriteNow(rc, chunk)
					if err != nil {
						t.Fatalf("WriteNow: %v", err)
					}
					written += n
					if n < len(chunk) {
						break
					}
				}
			}
			if tc.close {
				local.Close()
			}
			n, ok := Unsent(rc)
			if ok != tc.wantOK {
				t.Fatalf("Unsent = %d, %v; want ok %v", n, ok, tc.wantOK)
			}
			if !ok {
				return
			}
			var want int
			if err := rc.Control(func(fd uintptr) {
				want, err = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
			}); err != nil {
				t.Fatal(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Fatalf("Unsent = %d, x/sys/unix's SIOCOUTQ = %d", n, want)
			}
			if empty := n == 0; empty != tc.wantEmpty {
				t.Fatalf("Unsent = %d after writing %d bytes; want empty %v", n, written, tc.wantEmpty)
			}
			if n > written {
				t.Fatalf("Unsent = %d, more than the %d bytes written", n, written)
			}
		})
	}
}
