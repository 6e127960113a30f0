package inproc

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"testing"
)

func TestRemoteAddrIsTheCallers(t *testing.T) {
	l := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.RemoteAddr)
	}), slog.New(slog.DiscardHandler))
	defer l.Close()
	for _, remote := range []string{"192.0.2.7:5555", "[2001:db8::1]:443"} {
		ap := netip.MustParseAddrPort(remote)
		resp, err := l.Client(ap).Get("http://console.invalid/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != remote {
			t.Fatalf("RemoteAddr = %q, want %q", b, remote)
		}
	}
}

func TestDialAfterClose(t *testing.T) {
	l := New(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	l.Close()
	if _, err := l.Dial(context.Background(), netip.MustParseAddrPort("192.0.2.7:1")); err != ErrClosed {
		t.Fatalf("Dial after Close: %v, want ErrClosed", err)
	}
}

// Requests that arrive in-process count as received over TLS (the console
// serves browsers over TLS only): aws:SecureTransport holds for them.
func TestRequestsAreMarkedSecure(t *testing.T) {
	l := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || !r.TLS.HandshakeComplete {
			http.Error(w, "plain", http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, r.TLS.ServerName)
	}), slog.New(slog.DiscardHandler))
	defer l.Close()
	resp, err := l.Client(netip.MustParseAddrPort("192.0.2.7:5555")).Get("http://console.invalid:8443/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "console.invalid" {
		t.Fatalf("status %d, body %q: want the request marked as TLS for console.invalid", resp.StatusCode, b)
	}
}
