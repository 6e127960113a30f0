package httpedge

import (
	"net/http"
	"time"
)

// WriteDeadline returns h with a deadline on each response: the handler
// and the writing of the response's last byte must be done within d of the
// handler's start, or the connection is closed, so that a client that
// does not read what it asked for (or reads it a byte at a time) holds the
// connection, and the answer, no longer than d. A connection that the
// handler hijacks (the upgrades to tunnels and agent links) is handed over
// with no deadline (net/http clears them when hijacking; TestWriteDeadline
// checks it), so the bytes it carries afterwards are not bound by d.
// d <= 0 returns h.
func WriteDeadline(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = deadlines(w).SetWriteDeadline(time.Now().Add(d))
		h.ServeHTTP(w, r)
	})
}
