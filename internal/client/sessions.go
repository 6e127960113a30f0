package client

import (
	"crypto/tls"
	"net"
)

// serverSessions is a TLS session cache seen from the connections to one
// server: a name and a port. crypto/tls keys a client's sessions by the
// server name alone, so a session from one port of a name would be
// offered to every other port of it as well; a server there (another
// process, with ticket keys of its own) does not resume it, and the
// tunnel's handshake was then made twice (dialTLS: the classical attempt
// abandoned, then a full one) or offered a session in vain. Kept under
// name and port, a session is offered only to the server that issued it.
type serverSessions struct {
	cache tls.ClientSessionCache
	port  string
}

// The Dialer asks whether a session is the server's own (hasSession).
var _ OwnSessions = (*serverSessions)(nil)

// newServerSessions is cache seen from the server at addr (host:port).
func newServerSessions(cache tls.ClientSessionCache, addr string) *serverSessions {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		port = ""
	}
	return &serverSessions{cache: cache, port: port}
}

// key is the cache's key for name: the name and the port.
func (s *serverSessions) key(name string) string {
	if s.port == "" {
		return name
	}
	return net.JoinHostPort(name, s.port)
}

// Get implements tls.ClientSessionCache.
func (s *serverSessions) Get(name string) (*tls.ClientSessionState, bool) {
	return s.cache.Get(s.key(name))
}

// Put implements tls.ClientSessionCache.
func (s *serverSessions) Put(name string, cs *tls.ClientSessionState) {
	s.cache.Put(s.key(name), cs)
}

// HasOwn tells whether the cache holds a session stored for name at this
// server's port itself (OwnSessions), not one a lending cache would give.
func (s *serverSessions) HasOwn(name string) bool {
	if oc, ok := s.cache.(OwnSessions); ok {
		return oc.HasOwn(s.key(name))
	}
	cs, ok := s.cache.Get(s.key(name))
	return ok && cs != nil
}
