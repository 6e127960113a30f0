package httpedge

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// BodyDeadline returns h with a deadline on reading each request's body:
// the whole body must arrive within d of the handler's start (a client
// that stops or trickles loses its connection then). The deadline is
// lifted once the body has been read to its end, so that a handler may
// run longer than d. Requests without a body, such as the upgrades to
// tunnels and agent links, get no deadline. d <= 0 returns h.
func BodyDeadline(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := deadlines(w)
			if err := rc.SetReadDeadline(time.Now().Add(d)); err == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineSetter is what an http.ResponseController sets deadlines
// through; net/http's own ResponseWriter has both methods.
type deadlineSetter interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// deadlines returns w itself when it sets deadlines (net/http's
// ResponseWriter, without a wrapper: no allocation per request), else an
// http.ResponseController, which unwraps it.
func deadlines(w http.ResponseWriter) deadlineSetter {
	if ds, ok := w.(deadlineSetter); ok {
		return ds
	}
	return http.NewResponseController(w)
}

// deadlineBody lifts the connection's read deadline at the body's end.
type deadlineBody struct {
	io.ReadCloser
	rc     deadlineSetter
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.lifted {
		b.lifted = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
