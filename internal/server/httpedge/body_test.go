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
	"testing"
	"time"
)

// unwrapper hides net/http's ResponseWriter behind a wrapper that only
// unwraps, as a middleware's does: the deadlines then go through an
// http.ResponseController.
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// TestBodyDeadline: the read of a body that stops arriving fails at the
// deadline; a body read to its end lifts the deadline, so the handler may
// answer after it; whether the ResponseWriter sets deadlines itself or
// only unwraps to one that does.
func TestBodyDeadline(t *testing.T) {
	const d = 300 * time.Millisecond
	for _, wrapped := range []bool{false, true} {
		name := "net/http's writer"
		if wrapped {
			name = "a wrapped writer"
		}
		t.Run(name, func(t *testing.T) {
			readErr := make(chan error, 2)
			h := BodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				readErr <- err
				if err != nil {
					w.WriteHeader(http.StatusRequestTimeout)
					return
				}
				<-time.After(2 * d) // past the body's deadline: it must be lifted
				_, _ = w.Write(body)
			}), d)
			if wrapped {
				inner := h
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.ServeHTTP(unwrapper{w}, r) })
			}
			srv := httptest.NewUnstartedServer(h)
			srv.StartTLS()
			defer srv.Close()
			dial := func(t *testing.T) net.Conn {
				c, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // hang guard
				return c
			}

			// The whole body, then an answer after the body's deadline.
			c := dial(t)
			if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("a complete body: %v", err)
			}
			got, _ := io.ReadAll(resp.Body)
			if err := <-readErr; err != nil || resp.StatusCode != http.StatusOK || string(got) != "hello" {
				t.Fatalf("a complete body: read %v, answer %d %q", err, resp.StatusCode, got)
			}

			// Half a body, then nothing: the handler's read fails at the
			// deadline.
			c = dial(t)
			if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello"); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-readErr:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("reading a stalled body: %v, want the deadline's error", err)
				}
			case <-time.After(15 * time.Second): // hang guard, far past d
				t.Fatal("the read of a stalled body did not end")
			}
		})
	}
}
