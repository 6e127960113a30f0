package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/pgtest"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/wire/linkmux"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// A revoked endpoint agent is cut off by every replica on its own, not
// only by the one that revoked it: an agent that ignores the revocation
// (a compromised one, played here by a link that reads and discards
// every control message) loses its link to the other replica too, its
// tunnels there end as revoked (1008, CloseTunnel reason Revoked), and
// notRouted checks that a tunnel attempt found no agent: refused with
// EndpointUnavailable before the upgrade, or (the front door answers 101
// without waiting for the agent's dial) closed with 1011 and the refusal's
// reason before a byte came through.
func notRouted(tun *client.Tunnel, err error) error {
	if err != nil {
		if !strings.Contains(err.Error(), "EndpointUnavailable") {
			return fmt.Errorf("refused with %v, want EndpointUnavailable", err)
		}
		return nil
	}
	defer tun.Close()
	if _, err := tun.Write([]byte("x")); err != nil {
		return nil // closed already
	}
	n, err := tun.Read(make([]byte, 1))
	var ce *client.ClosedError
	if n > 0 || !errors.As(err, &ce) || ce.Code != 1011 || !strings.Contains(ce.Reason, "No endpoint agent") {
		return fmt.Errorf("routed: read %d bytes, ended with %v; want a close 1011 saying no endpoint agent could take it", n, err)
	}
	return nil
}

// no new tunnel is routed to it.
func TestRevokedAgentIsDroppedByEveryReplica(t *testing.T) {
	opts := replicaConfig(pgtest.Start(t), 200*time.Millisecond)
	a := tunneltest.Start(t, tunneltest.Options{Config: opts})
	b := tunneltest.Start(t, tunneltest.Options{Config: opts, DataDir: a.Dir})
	ctx := context.Background()
	_, _, ep, _ := a.Network("127.0.0.0/16", "127.0.0.0/24")
	id, err := agent.Join(ctx, a.JoinToken(ep), agent.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	toA, err := linkDisobedient(t, a, id)
	if err != nil {
		t.Fatalf("link to A: %v", err)
	}
	toB, err := linkDisobedient(t, b, id)
	if err != nil {
		t.Fatalf("link to B: %v", err)
	}
	a.WaitConnected(id.AgentID, 10*time.Second)
	b.WaitConnected(id.AgentID, 10*time.Second)

	target := client.Target{EndpointID: ep, DNSName: b.DNSName(), PrivateIP: "127.0.0.1", RemotePort: 22}
	tun, err := b.Dialer(a.Admin).Dial(ctx, target)
	if err != nil {
		t.Fatalf("tunnel through B: %v", err)
	}
	defer tun.Close()
	if _, err := io.WriteString(tun, "hello"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(tun, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo through B: %q %v", buf, err)
	}
	ended := tunneltest.WatchEnd(tun)

	start := time.Now()
	if _, err := a.Call(a.Admin, "RevokeEndpointAgent", map[string]string{"AgentId": id.AgentID}); err != nil {
		t.Fatal(err)
	}
	// No new tunnel through B, even right after the revocation.
	if err := notRouted(b.Dialer(a.Admin).Dial(ctx, target)); err != nil {
		t.Fatalf("right after the revocation: %v", err)
	}
	want := "Access was revoked: the endpoint agent " + id.AgentID + " was revoked"
	reason, _ := ended.Within(t, start, time.Second, 1008, want)
	for name, sess := range map[string]*linkmux.Session{"A": toA, "B": toB} {
		select {
		case <-sess.Done():
		case <-time.After(tunneltest.EventBound): // a hang guard: without the drop the link would stay
			t.Fatalf("%s kept the revoked agent's link %v after the tunnel ended", name, tunneltest.EventBound)
		}
	}
	if got := b.Server.Relay().Connected(ep); len(got) != 0 {
		t.Fatalf("B lists the revoked agent as connected: %+v", got)
	}
	// B recorded the end as a revocation: the CloseTunnel of the tunnel
	// opened first (the attempt after the revocation, whose dial the relay
	// refused, has a CloseTunnel of its own).
	opens, err := b.Server.Store.ListEvents(ctx, store.EventQuery{EventName: "OpenTunnel"})
	if err != nil {
		t.Fatal(err)
	}
	if len(opens) == 0 || opens[len(opens)-1].TunnelID == "" {
		t.Fatalf("B's OpenTunnel records %+v: the first tunnel's is missing", opens)
	}
	firstTunnel := opens[len(opens)-1].TunnelID  // newest first
	deadline := time.Now().Add(30 * time.Second) // a hang guard
	var rec struct {
		ServiceEventDetails struct {
			Reason, Message string
			CloseCode       int
		}
	}
	for {
		evs, err := b.Server.Store.ListEvents(ctx, store.EventQuery{EventName: "CloseTunnel", TunnelID: firstTunnel})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			if err := json.Unmarshal([]byte(evs[0].Body), &rec); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no CloseTunnel record 30 s after the revocation")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := rec.ServiceEventDetails; d.Reason != "Revoked" || d.CloseCode != 1008 || d.Message != reason {
		t.Fatalf("CloseTunnel record %+v; want reason Revoked, code 1008 and the message %q", d, reason)
	}

	// Neither a new tunnel nor a new link.
	if err := notRouted(b.Dialer(a.Admin).Dial(ctx, target)); err != nil {
		t.Fatalf("a new tunnel through B after the revocation: %v", err)
	}
	if _, err := linkDisobedient(t, b, id); err == nil || !strings.Contains(err.Error(), "AgentRevoked") {
		t.Fatalf("the revoked agent linked to B again: %v", err)
	}
}

// linkDisobedient links an agent identity to e as a compromised agent
// would: it speaks the link protocol, echoes the bytes of every tunnel it
// is asked to open (without dialling anything), and reads and ignores
// every control message, the revocation included. The link lasts until
// the server closes it or the test ends.
func linkDisobedient(t *testing.T, e *tunneltest.Env, id *agent.Identity) (*linkmux.Session, error) {
	t.Helper()
	raw, err := net.Dial("tcp", e.Addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, &tls.Config{RootCAs: e.Roots, ServerName: "127.0.0.1",
		Certificates: []tls.Certificate{id.Cert}, NextProtos: tunnelproto.AgentNextProtos()})
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n",
		tunnelproto.LinkPath, tunnelproto.UpgradeProtocol); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		conn.Close()
		return nil, fmt.Errorf("link refused: %s %s", resp.Status, body)
	}
	_ = conn.SetDeadline(time.Time{})
	sess, err := linkmux.Acceptor(&netutil.BufferedConn{Conn: conn, R: br}, linkmux.Config{})
	if err != nil {
		conn.Close()
		return nil, err
	}
	t.Cleanup(func() { sess.Close() })
	ctrl, err := sess.Open(context.Background())
	if err != nil {
		return nil, err
	}
	go func() { _, _ = io.Copy(io.Discard, ctrl) }() // revocations included
	go func() {
		for {
			s, err := sess.Accept()
			if err != nil {
				return
			}
			go func() {
				defer s.Close()
				var req tunnelproto.DialRequest
				if tunnelproto.ReadJSON(s, tunnelproto.FrameDial, &req) != nil ||
					tunnelproto.WriteJSON(s, tunnelproto.FrameDialResult, tunnelproto.DialResult{OK: true}) != nil {
					return
				}
				c := tunnelproto.NewConn(s)
				var frame []byte
				for { // ends when the stream does
					b, err := c.Recv(func(n int) []byte {
						frame = make([]byte, tunnelproto.HeaderLen+n)
						return frame[tunnelproto.HeaderLen:]
					})
					if err != nil {
						return
					}
					if c.SendData(frame[:tunnelproto.HeaderLen+len(b)]) != nil {
						return
					}
				}
			}()
		}
	}()
	return sess, nil
}
