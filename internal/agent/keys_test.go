package agent_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestKeyServiceBoundsConnections: anyone on the private network can
// connect to an agent's key service (--keys-listen), so a connection that
// stalls before, inside or after a request is closed (it held an idle
// keep-alive connection, or a request whose body never came, forever,
// and with them the agent's file descriptors).
func TestKeyServiceBoundsConnections(t *testing.T) {
	const header, read, idle = 5 * time.Second, 10 * time.Second, 5 * time.Second
	// slack: scheduling on a loaded 2-core machine, -race. It stays under
	// 5 s so that a stage whose own bound were missing still fails: the
	// header and idle stages would then fall back to the 10 s read
	// timeout, later than 5 s + slack.
	const slack = 4500 * time.Millisecond
	e := tunneltest.Start(t, tunneltest.Options{})
	_, _, ep, _ := e.Network("10.31.0.0/16", "10.31.1.0/24")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	a := e.StartAgent(ep, agent.Config{KeysListener: ln})
	e.WaitConnected(a.ID.AgentID, 10*time.Second)

	tests := []struct {
		name    string
		send    string
		timeout time.Duration
	}{
		{"no request after the handshake", "", header},
		{"headers never end", "GET /keys HTTP/1.1\r\nHost: agent\r\n", header},
		{"body never ends", "POST /nothing HTTP/1.1\r\nHost: agent\r\nContent-Length: 100\r\n\r\nabc", read},
		{"idle after a request", "GET /nothing HTTP/1.1\r\nHost: agent\r\n\r\n", idle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The helpers trust the entries' signatures, not the
			// connection; this client only holds the connection.
			c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // see above
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			if tc.send != "" {
				if _, err := io.WriteString(c, tc.send); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.SetReadDeadline(start.Add(tc.timeout + slack))
			buf := make([]byte, 4096)
			for { // ends at the agent's close or at the deadline
				if _, err := c.Read(buf); err != nil {
					took := time.Since(start)
					if errors.Is(err, os.ErrDeadlineExceeded) {
						t.Fatalf("the key service still held the connection after %v", took.Round(time.Millisecond))
					}
					if took < tc.timeout-time.Second {
						t.Fatalf("closed after %v, before its bound of %v", took.Round(time.Millisecond), tc.timeout)
					}
					t.Logf("closed after %v (bound %v)", took.Round(time.Millisecond), tc.timeout)
					return
				}
			}
		})
	}
}
