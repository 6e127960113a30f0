//go:build linux

package client

import "testing"

// A spare lifetime cut short (a server that closed a spare early, e.g. as
// it restarted) grows back once a spare stays open for its whole
// lifetime: otherwise a client would remake its spares every minSpareTTL
// for the rest of its life, a TLS handshake and an unauthenticated
// connection on the server each time.
func TestSpareLifetimeGrowsBack(t *testing.T) {
	s := newSpareServer(t, true)
	d := s.dialer()
	p := d.pool()
	p.mu.Lock()
	p.ttl = minSpareTTL
	p.mu.Unlock()
	d.KeepSpares("example.com")
	defer d.CloseSpares()
	first := s.nextAccepted(t).RemoteAddr().String()
	if got := s.nextClosed(t); got != first { // the client closed it: expired
		t.Fatalf("closed %s, want the expired spare %s", got, first)
	}
	p.mu.Lock()
	ttl := p.ttl
	p.mu.Unlock()
	if ttl <= minSpareTTL || ttl > defaultSpareTTL {
		t.Fatalf("spare lifetime %v after a spare outlived %v open, want it grown (at most %v)", ttl, minSpareTTL, defaultSpareTTL)
	}
}
