package targetdial

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestQBProxyHeaderFailureIsADialFailure: a target that the agent
// connected but that reset the connection before the PROXY protocol v2
// header could be written fails the dial with CodeProxyHeaderFailed (a
// dial failure's code, so the server and the console tell it as a
// refusal), not TargetError (an open tunnel's end), and the connection
// is closed; a target that stays gets the header and the dial is OK.
func TestQBProxyHeaderFailureIsADialFailure(t *testing.T) {
	client := netip.MustParseAddrPort("203.0.113.7:40000")
	tests := []struct {
		name  string
		reset bool // the target resets the connection right after accept
	}{
		{"target resets right after accept", true},
		{"target stays", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type read struct {
				h   *proxyproto.Header
				err error
			}
			got := make(chan read, 1)
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- read{err: err}
					return
				}
				if tc.reset {
					accepted <- c
					return
				}
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				h, err := proxyproto.Read(bufio.NewReader(c))
				got <- read{h, err}
			}()
			target := ln.Addr().String()
			conn, err := net.Dial("tcp", target)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tc.reset {
				// The target resets only once the agent's connect
				// returned (as right after accept): SO_LINGER 0 makes
				// Close send a RST instead of a FIN.
				select {
				case c := <-accepted:
					_ = c.(*net.TCPConn).SetLinger(0)
					c.Close()
				case r := <-got:
					t.Fatalf("accept: %v", r.err)
				}
				// Wait for the RST (no sleep): the read ends with it.
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("read before the header: %v; want the target's reset", err)
				}
				_ = conn.SetReadDeadline(time.Time{})
			}
			res := sendProxyHeader(conn, client, target, 5*time.Second)
			if !tc.reset {
				r := <-got
				if !res.OK || r.err != nil || r.h.SourceAddr.String() != client.String() {
					t.Fatalf("sendProxyHeader = %+v; the target read %+v, %v; want OK and a header from %s", res, r.h, r.err, client)
				}
				return
			}
			if res.OK || res.Code != tunnelproto.CodeProxyHeaderFailed || !strings.Contains(res.Message, "PROXY protocol header") || !strings.Contains(res.Message, target) {
				t.Fatalf("sendProxyHeader = %+v; want %s naming the header and %s", res, tunnelproto.CodeProxyHeaderFailed, target)
			}
			if err := conn.Close(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("the failed dial's connection was not closed (Close: %v)", err)
			}
		})
	}
}
