package server

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/postern/postern/internal/testutil/syncbuf"
)

// TestQJExposedListen: the server finds a listener other hosts reach
// (a wildcard or a non-loopback address) while it advertises a loopback
// host, and only then.
func TestQJExposedListen(t *testing.T) {
	cases := []struct {
		advertise string
		listen    []string
		want      string
	}{
		{"localhost:8443", []string{"0.0.0.0:8443"}, "0.0.0.0:8443"},
		{"localhost:8443", []string{"[::]:8443"}, "[::]:8443"},
		{"localhost:8443", []string{":8443"}, ":8443"},
		{"localhost:8443", []string{"127.0.0.1:8443", "10.0.0.5:8443"}, "10.0.0.5:8443"},
		{"127.0.0.1:8443", []string{"0.0.0.0:8443"}, "0.0.0.0:8443"},
		{"[::1]:8443", []string{"[::]:8443"}, "[::]:8443"},
		{"LOCALHOST.:8443", []string{"0.0.0.0:8443"}, "0.0.0.0:8443"},
		{"pst.localhost:8443", []string{"0.0.0.0:8443"}, "0.0.0.0:8443"},
		// Only reachable from this machine: localhost is right.
		{"localhost:8443", []string{"127.0.0.1:8443"}, ""},
		{"localhost:8443", []string{"[::1]:8443", "localhost:9443"}, ""},
		{"localhost:8443", []string{"127.0.0.2:8443"}, ""},
		// public_host or advertise set: nothing to say.
		{"postern.example.com:8443", []string{"0.0.0.0:8443"}, ""},
		{"10.0.0.5:443", []string{"[::]:8443"}, ""},
		{"lb.example.com:443", []string{"127.0.0.1:8443"}, ""},
	}
	for _, tc := range cases {
		if got := exposedListen(tc.advertise, tc.listen); got != tc.want {
			t.Errorf("exposedListen(%q, %q) = %q, want %q", tc.advertise, tc.listen, got, tc.want)
		}
		note := exposedNote(tc.advertise, tc.listen)
		if (note != "") != (tc.want != "") || (note != "" && !(strings.Contains(note, "public_host") && strings.Contains(note, "tls.sans"))) {
			t.Errorf("exposedNote(%q, %q) = %q", tc.advertise, tc.listen, note)
		}
	}
}

// qjStartedWriter is Run's output: it tells when the welcome text was
// printed (the server is serving).
type qjStartedWriter struct {
	mu      sync.Mutex
	b       bytes.Buffer
	started chan struct{}
	once    sync.Once
}

func (w *qjStartedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if strings.Contains(w.b.String(), "Connect with") {
		w.once.Do(func() { close(w.started) })
	}
	return n, err
}

func (w *qjStartedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestQJRunWarnsOfAnUnreachableAdvertisedAddress: `postern server` with
// the default public_host (localhost) and a wildcard listen (the
// container image's --listen 0.0.0.0:8443) logs a warning and says in its
// welcome text what to set; on loopback it says nothing of the kind.
func TestQJRunWarnsOfAnUnreachableAdvertisedAddress(t *testing.T) {
	cases := []struct {
		listen string
		warn   bool
	}{
		{listen: "0.0.0.0:0", warn: true},
		{listen: "127.0.0.1:0", warn: false},
	}
	for _, tc := range cases {
		t.Run(tc.listen, func(t *testing.T) {
			var logs syncbuf.Buffer
			out := &qjStartedWriter{started: make(chan struct{})}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				errc <- Run(ctx, Options{DataDir: t.TempDir(), Listen: tc.listen}, out, slog.New(slog.NewTextHandler(&logs, nil)))
			}()
			select {
			case <-out.started:
			case err := <-errc:
				t.Fatalf("Run: %v\n%s", err, out.String())
			}
			cancel()
			if err := <-errc; err != nil {
				t.Fatalf("Run: %v", err)
			}
			welcome, log := out.String(), logs.String()
			warned := strings.Contains(log, "level=WARN") && strings.Contains(log, "public_host") && strings.Contains(log, "advertise=localhost:")
			noted := strings.Contains(welcome, "WARNING: listening on") && strings.Contains(welcome, "public_host") && strings.Contains(welcome, "tls.sans")
			if warned != tc.warn || noted != tc.warn {
				t.Errorf("listen %s: warning logged %v, in the welcome text %v; want %v\nlog:\n%s\nwelcome:\n%s", tc.listen, warned, noted, tc.warn, log, welcome)
			}
		})
	}
}
