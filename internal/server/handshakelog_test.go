package server_test

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/httpedge"
	"github.com/postern/postern/internal/testutil/syncbuf"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// syncBuffer is a buffer safe for the goroutines writing to it and the test.
type syncBuffer = syncbuf.Buffer

// Connections whose TLS handshakes fail do not write a log line each
// (anyone could fill the server's log so): the first few a minute are
// logged, and the rest counted.
func TestFailedHandshakesDoNotFloodTheLog(t *testing.T) {
	logs := &syncBuffer{}
	e := tunneltest.Start(t, tunneltest.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	const attempts = 40
	for i := range attempts {
		c, err := net.Dial("tcp", e.Addr)
		if err != nil {
			t.Fatal(err)
		}
		// A TLS record header and a malformed ClientHello.
		if _, err := c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00}); err != nil {
			t.Fatal(err)
		}
		// The server logs the failure before it closes the connection.
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("attempt %d: %v", i, err)
		}
		c.Close()
	}
	n := strings.Count(logs.String(), httpedge.HandshakeErrorPrefix)
	if n == 0 || n > 10 {
		t.Fatalf("%d failed handshakes wrote %d log lines, want 1 to 10:\n%s", attempts, n, logs.String())
	}
	t.Logf("%d failed handshakes, %d log lines", attempts, n)
}
