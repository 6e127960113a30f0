package relay

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/wire/linkmux"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// r616Store is one agent's endpoint and VPC, which the test changes. Its
// holdVpcAt-th GetVpc is held right after it read (it sends on read, then
// waits on release); after its first GetEndpoint and first GetVpc it runs
// afterEndpoint / afterVpc (a change committed and synced right after a
// read, before the reader goes on).
type r616Store struct {
	store.Store             // nil: only the methods below are called
	mu                      sync.Mutex
	preserve                bool
	ipv6                    string
	endpointCalls, vpcCalls int
	holdVpcAt               int
	read, release           chan struct{}
	afterEndpoint, afterVpc func()
}

func (s *r616Store) GetEndpoint(context.Context, string) (store.Endpoint, error) {
	s.mu.Lock()
	e := store.Endpoint{EndpointID: "eice-1", VpcID: "vpc-1", State: "create-complete", PreserveClientIP: s.preserve}
	s.endpointCalls++
	after := s.endpointCalls == 1 && s.afterEndpoint != nil
	s.mu.Unlock()
	if after {
		s.afterEndpoint()
	}
	return e, nil
}

func (s *r616Store) GetVpc(context.Context, string) (store.Vpc, error) {
	s.mu.Lock()
	v := store.Vpc{VpcID: "vpc-1", CidrBlock: "10.0.0.0/16", Ipv6CidrBlock: s.ipv6, State: "available"}
	s.vpcCalls++
	hold := s.vpcCalls == s.holdVpcAt
	after := s.vpcCalls == 1 && s.afterVpc != nil
	s.mu.Unlock()
	if hold {
		s.read <- struct{}{}
		<-s.release
	}
	if after {
		s.afterVpc()
	}
	return v, nil
}

func (s *r616Store) agent() store.Agent { return store.Agent{AgentID: "eni-1", EndpointID: "eice-1"} }
func (s *r616Store) GetAgentByKey(context.Context, string) (store.Agent, error) {
	return s.agent(), nil
}
func (s *r616Store) GetAgent(context.Context, string) (store.Agent, error) { return s.agent(), nil }
func (s *r616Store) UpdateAgentConnection(context.Context, string, string, string, time.Time) error {
	return nil
}

func (s *r616Store) setIPv6(c string) { s.mu.Lock(); s.ipv6 = c; s.mu.Unlock() }

// r616Lines reads control lines until want has been seen or five seconds
// passed; it returns every message read.
func r616Lines(t *testing.T, c net.Conn, done func([]tunnelproto.Control) bool) []tunnelproto.Control {
	t.Helper()
	lines := bufio.NewScanner(c)
	var got []tunnelproto.Control
	for !done(got) {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if !lines.Scan() {
			break
		}
		var m tunnelproto.Control
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			t.Fatalf("control line %q: %v", lines.Bytes(), err)
		}
		got = append(got, m)
	}
	return got
}

// lastVPC is the networks of the last ControlVPC message in ms, joined.
func lastVPC(ms []tunnelproto.Control) (string, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Type == tunnelproto.ControlVPC {
			return strings.Join(ms[i].VpcCIDRs, ","), true
		}
	}
	return "", false
}

// TestR616VPCChangeDuringASendIsNotLost: the VPC gains an IPv6 block, then
// loses it again while the send of the longer list is in flight (the send
// has read it; the link's record still holds the short list, so the
// store change's sync sees nothing to do). The agent must end up told the
// short list. Before the fix (tellVPC sent once): its last word was the
// list with the IPv6 block until the next change or the 30 s recheck.
func TestR616VPCChangeDuringASendIsNotLost(t *testing.T) {
	st := &r616Store{holdVpcAt: 2, read: make(chan struct{}), release: make(chan struct{})}
	r := &Relay{cfg: Config{Store: st}, log: slog.New(slog.DiscardHandler), byAgent: map[string]*link{}}
	srv, agentSide := net.Pipe()
	defer srv.Close()
	defer agentSide.Close()
	l := &link{agentID: "eni-1", endpointID: "eice-1", ctrl: srv, vpcCIDRs: "10.0.0.0/16"}
	r.byAgent[l.agentID] = l

	st.setIPv6("2001:db8::/56") // associate
	r.syncVPCs()                // vpc read 1; differs: starts a send, whose read (2) is…
	<-st.read                   // …held here, having read the long list
	st.setIPv6("")              // disassociate while the long list is in flight
	r.syncVPCs()                // the link still records the short list: nothing to send
	close(st.release)

	got := r616Lines(t, agentSide, func(ms []tunnelproto.Control) bool { v, _ := lastVPC(ms); return len(ms) > 0 && v == "10.0.0.0/16" })
	if v, ok := lastVPC(got); !ok || v != "10.0.0.0/16" {
		t.Fatalf("agent told %+v after the IPv6 block came and went; want its last VPC message 10.0.0.0/16", got)
	}
}

// TestR616LinkStartSeesAChangeSyncedBeforeItWasRegistered: PreserveClientIp
// turns on right after HandleLink read the endpoint, and the VPC gains a
// block right after it read the VPC; both changes' syncs run before the
// link is registered (they find no link to tell). The new link must still
// be told both. Before the fix the agent kept the 101's values until the
// next change or the 30 s recheck.
func TestR616LinkStartSeesAChangeSyncedBeforeItWasRegistered(t *testing.T) {
	st := &r616Store{}
	r := &Relay{cfg: Config{Store: st, Now: time.Now}, log: slog.New(slog.DiscardHandler),
		byAgent: map[string]*link{}, byEndpoint: map[string][]*link{}}
	st.afterEndpoint = func() { st.mu.Lock(); st.preserve = true; st.mu.Unlock(); r.syncVPCs() }
	st.afterVpc = func() { st.setIPv6("2001:db8::/56"); r.syncVPCs() }
	hs := httptest.NewUnstartedServer(http.HandlerFunc(r.HandleLink))
	hs.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	hs.StartTLS()
	defer hs.Close()

	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1),
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, &x509.Certificate{SerialNumber: big.NewInt(1)}, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())
	conn, err := tls.Dial("tcp", hs.Listener.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "example.com",
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", tunnelproto.LinkPath, tunnelproto.UpgradeProtocol)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("link answer: %v %v", resp, err)
	}
	if h := resp.Header.Get(tunnelproto.HeaderEndpointPreserveClientIP); h != "false" {
		t.Fatalf("101 says preserve %q; the test wants the value read before the change", h)
	}
	_ = conn.SetDeadline(time.Time{})
	sess, err := linkmux.Acceptor(&netutil.BufferedConn{Conn: conn, R: br}, linkmux.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctrl, err := sess.Open(ctx)
	if err != nil {
		t.Fatalf("open the control stream: %v", err)
	}
	told := func(ms []tunnelproto.Control) (preserve bool, vpc string) {
		for _, m := range ms {
			switch {
			case m.Type == tunnelproto.ControlPreserveClientIP && m.PreserveClientIP != nil:
				preserve = *m.PreserveClientIP
			case m.Type == tunnelproto.ControlVPC:
				vpc = strings.Join(m.VpcCIDRs, ",")
			}
		}
		return preserve, vpc
	}
	want := "10.0.0.0/16,2001:db8::/56"
	got := r616Lines(t, ctrl, func(ms []tunnelproto.Control) bool { p, v := told(ms); return p && v == want })
	if p, v := told(got); !p || v != want {
		t.Fatalf("new link told %+v (preserve %v, networks %q); want preserve true and networks %q", got, p, v, want)
	}
}
