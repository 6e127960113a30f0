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
			rc := http.NewResponseController(w)
			if err := rc.SetReadDeadline(time.Now().Add(d)); err == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the connection's read deadline at the body's end.
type deadlineBody struct {
	io.ReadCloser
	rc     *http.ResponseController
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
