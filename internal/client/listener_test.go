package client_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// --local-port mode: one tunnel per accepted connection, at most Max at
// once, with the AWS CLI's messages.
func TestListenerMode(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	echo := tunneltest.Echo(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuf
	l := &client.Listener{Dialer: e.Dialer(e.Admin), Target: e.Local(echo.Port), Max: 2, Out: &out}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, ln) }()

	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	echoOnce := func(c net.Conn, msg string) {
		t.Helper()
		c.Write([]byte(msg))
		buf := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: %q %v", msg, buf, err)
		}
	}
	a, b := dial(), dial()
	echoOnce(a, "first")
	echoOnce(b, "second")
	// A third while two are open is closed at once.
	c := dial()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("the connection over the limit was served: %d %v", n, err)
	}
	// When one ends, a new one is served. The Listener writes the
	// "Closing" message before it frees the connection's place among the
	// Max: wait for both, or the next connection may come in between and
	// be refused.
	a.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "[1] Closing tcp connection.") || l.Active() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the first tunnel did not end:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	d := dial()
	echoOnce(d, "fourth")
	b.Close()
	d.Close()
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"Listening for connections on port ", "[1] Accepted new tcp connection, opening websocket tunnel.",
		"Max websocket connections 2 have been reached, closing incoming connection.", "[3] Accepted new tcp connection"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}
