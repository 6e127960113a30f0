//go:build unix

package client

import (
	"io"
	"net"
	"testing"
)

// waitReadable returns when the peer sent bytes (and leaves them to
// Read), when the peer closed (Read then ends) and when the connection
// was closed here.
func TestWaitReadable(t *testing.T) {
	tests := []struct {
		name     string
		act      func(local, peer net.Conn)
		wantRead string // "": Read ends with an error
	}{
		{"bytes", func(_, peer net.Conn) { peer.Write([]byte("hi")) }, "hi"},
		{"peer closed", func(_, peer net.Conn) { peer.Close() }, ""},
		{"closed here", func(local, _ net.Conn) { local.Close() }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			local, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer local.Close()
			peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			done := make(chan struct{})
			go func() {
				waitReadable(local.(*net.TCPConn))
				close(done)
			}()
			tc.act(local, peer)
			<-done
			buf := make([]byte, 8)
			if tc.wantRead != "" {
				n, err := io.ReadFull(local, buf[:len(tc.wantRead)])
				if err != nil || string(buf[:n]) != tc.wantRead {
					t.Fatalf("read %q, %v; want %q", buf[:n], err, tc.wantRead)
				}
			} else if n, err := local.Read(buf); err == nil {
				t.Fatalf("read %q after the end, no error", buf[:n])
			}
		})
	}
}
