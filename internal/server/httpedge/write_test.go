package httpedge

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// A response must be written within the deadline, but a hijacked
// connection carries on without it, whether or not its handler clears the
// deadline itself.
func TestWriteDeadline(t *testing.T) {
	const d = 300 * time.Millisecond
	big := strings.Repeat("x", 32<<20) // more than the sockets buffer
	mux := http.NewServeMux()
	bigEnded := make(chan error, 1)
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, err := io.WriteString(w, big)
		bigEnded <- err
	})
	mux.HandleFunc("/upgrade", func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
		_ = brw.Flush()
		<-time.After(2 * d) // past the response's deadline
		if _, err := io.WriteString(c, "late"); err != nil {
			t.Errorf("write on the hijacked connection after the deadline: %v", err)
		}
	})
	srv := httptest.NewUnstartedServer(WriteDeadline(mux, d))
	srv.StartTLS()
	defer srv.Close()
	dial := func(t *testing.T) net.Conn {
		c, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("a response the client does not read", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		// Reading nothing until the server's write ended: a wait of d
		// and a margin is not enough where the handler itself may start
		// late (a starved machine), and then the client, reading, would
		// take the whole response within the deadline.
		select {
		case <-bigEnded:
		case <-time.After(15 * time.Second): // hang guard, far past d
			t.Fatal("the server's write to a client that reads nothing did not end")
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := io.Copy(io.Discard, c)
		if errors.Is(err, os.ErrDeadlineExceeded) || n >= int64(len(big)) {
			t.Fatalf("read %d of %d bytes, then %v: the server kept writing", n, len(big), err)
		}
	})
	t.Run("a hijacked connection", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		got, err := io.ReadAll(br)
		if string(got) != "late" {
			t.Fatalf("after the upgrade: %q, %v", got, err)
		}
	})
}
