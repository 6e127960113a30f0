//go:build linux

package client

import (
	"context"
	"crypto/tls"
	"sync"
	"sync/atomic"
	"testing"
)

// countingServer is a spareServer that also counts the sessions clients
// offer it to resume (crypto/tls's UnwrapSession hook).
type countingServer struct {
	*spareServer
	offered atomic.Int32
}

func newCountingServer(t *testing.T) *countingServer {
	t.Helper()
	cs := &countingServer{}
	var self atomic.Pointer[tls.Config]
	// The hook is set before the server starts (httptest clones the
	// configuration then): the clone, the one that made the tickets,
	// decrypts them.
	hook := func(identity []byte, st tls.ConnectionState) (*tls.SessionState, error) {
		cs.offered.Add(1)
		return self.Load().DecryptTicket(identity, st)
	}
	cs.spareServer = newSpareServerTLS(t, &tls.Config{UnwrapSession: hook})
	self.Store(cs.srv.TLS)
	return cs
}

// lendingSessions is a session cache that lends a name it holds nothing
// for the latest session of another (as the CLI's shared cache does for
// the look-up's session).
type lendingSessions struct {
	mu   sync.Mutex
	own  map[string]*tls.ClientSessionState
	last *tls.ClientSessionState
}

func (c *lendingSessions) Get(key string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.own[key]; ok {
		return s, true
	}
	return c.last, c.last != nil
}

func (c *lendingSessions) Put(key string, s *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.own == nil {
		c.own = map[string]*tls.ClientSessionState{}
	}
	c.own[key] = s
	if s != nil {
		c.last = s
	}
}

func (c *lendingSessions) HasOwn(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.own[key] != nil
}

// A tunnel to another port of the same host name (another server, with
// ticket keys of its own) is not offered the first port's session: its
// server sees one connection (not an abandoned resumption attempt and a
// second one) and, with the Dialer's own cache, no session to resume.
// Each server's own session is still resumed on its next tunnel.
func TestQDSessionOfferedOnlyToTheServerThatIssuedIt(t *testing.T) {
	tests := []struct {
		name  string
		cache func() tls.ClientSessionCache // nil: the Dialer's own
		// wantOffered is the sessions server B is offered on the first
		// tunnel to it (-1: not checked; a lending cache's choice).
		wantOffered int32
	}{
		{"the Dialer's own cache", nil, 0},
		{"a cache that lends another name's session", func() tls.ClientSessionCache { return &lendingSessions{} }, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newCountingServer(t), newCountingServer(t)
			d := a.dialer()
			d.DialAddr = ""
			if tc.cache != nil {
				d.TLS.ClientSessionCache = tc.cache()
			}
			open := func(s *countingServer) *Tunnel {
				t.Helper()
				tg := target
				tg.DNSName = s.srv.Listener.Addr().String() // 127.0.0.1:port, the same name
				tun, err := d.Dial(context.Background(), tg)
				if err != nil {
					t.Fatal(err)
				}
				s.nextRequest(t)
				return tun
			}
			readTunnel(t, open(a)) // its session ticket is read with its bytes
			a.nextAccepted(t)

			readTunnel(t, open(b))
			b.nextAccepted(t)
			select {
			case c := <-b.accepted:
				t.Errorf("the tunnel to the other port connected twice (again from %s)", c.RemoteAddr())
			default:
			}
			if got := b.offered.Load(); tc.wantOffered >= 0 && got != tc.wantOffered {
				t.Errorf("the other port's server was offered %d sessions, want %d", got, tc.wantOffered)
			}

			for _, s := range []*countingServer{a, b} {
				tun := open(s)
				st, _ := tun.TLSState()
				readTunnel(t, tun)
				if !st.DidResume {
					t.Errorf("the tunnel to %s did not resume its server's session", s.srv.Listener.Addr())
				}
			}
		})
	}
}
