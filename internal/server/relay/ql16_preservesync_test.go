package relay_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/wire/linkmux"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// ql16Link is the agent's side of a link, spoken by the test: the 101
// answer's headers and the control stream.
type ql16Link struct {
	header http.Header
	sess   *linkmux.Session
	ctrl   net.Conn
	lines  *bufio.Scanner
}

// ql16Dial opens a link as the agent with identity id would.
func ql16Dial(t *testing.T, id *agent.Identity) *ql16Link {
	t.Helper()
	host, _, _ := net.SplitHostPort(id.Server)
	roots := x509.NewCertPool()
	roots.AddCert(id.CA)
	d := &tls.Dialer{Config: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: roots,
		Certificates: []tls.Certificate{id.Cert}, NextProtos: tunnelproto.AgentNextProtos()}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", id.Server)
	if err != nil {
		t.Fatalf("dial the server: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\n%s: ql16\r\n\r\n",
		tunnelproto.LinkPath, host, tunnelproto.UpgradeProtocol, tunnelproto.HeaderAgentName); err != nil {
		t.Fatalf("link request: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("link answer: %v %v", resp, err)
	}
	_ = conn.SetDeadline(time.Time{})
	sess, err := linkmux.Acceptor(&netutil.BufferedConn{Conn: conn, R: br}, linkmux.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	ctrl, err := sess.Open(ctx)
	if err != nil {
		t.Fatalf("open the control stream: %v", err)
	}
	return &ql16Link{header: resp.Header, sess: sess, ctrl: ctrl, lines: bufio.NewScanner(ctrl)}
}

// next returns the next control message of type typ, passing over others.
func (l *ql16Link) next(t *testing.T, typ string) tunnelproto.Control {
	t.Helper()
	_ = l.ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	for l.lines.Scan() {
		var m tunnelproto.Control
		if err := json.Unmarshal(l.lines.Bytes(), &m); err != nil {
			t.Fatalf("control line %q: %v", l.lines.Bytes(), err)
		}
		if m.Type == typ {
			return m
		}
	}
	t.Fatalf("no %q control message: %v", typ, l.lines.Err())
	return tunnelproto.Control{}
}

// TestQL16LinkTellsWhetherTheEndpointPreserves: the link's answer says
// whether the agent's endpoint preserves client addresses, and
// modify-instance-connect-endpoint's change of PreserveClientIp reaches the
// linked agent on its control stream (ControlPreserveClientIP), both ways;
// the next link's answer carries the new setting. Before: no header, no
// message.
func TestQL16LinkTellsWhetherTheEndpointPreserves(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	_, _, ep, _ := e.Network("10.0.0.0/16", "10.0.0.0/24")
	id, err := agent.Join(ctx, e.JoinToken(ep), agent.Config{StateDir: filepath.Join(t.TempDir(), "agent")})
	if err != nil {
		t.Fatal(err)
	}
	l := ql16Dial(t, id)
	if got := l.header.Get(tunnelproto.HeaderEndpointPreserveClientIP); got != "false" {
		t.Fatalf("%s: %q in the link's answer; want \"false\"", tunnelproto.HeaderEndpointPreserveClientIP, got)
	}
	e.WaitConnected(id.AgentID, 10*time.Second)
	c := e.EC2(e.Admin)
	for _, on := range []bool{true, false, true} {
		if _, err := c.ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{
			InstanceConnectEndpointId: aws.String(ep), PreserveClientIp: aws.Bool(on)}); err != nil {
			t.Fatalf("modify PreserveClientIp=%v: %v", on, err)
		}
		m := l.next(t, tunnelproto.ControlPreserveClientIP)
		if m.PreserveClientIP == nil || *m.PreserveClientIP != on {
			t.Fatalf("told %+v after PreserveClientIp=%v", m, on)
		}
	}
	// A new link (the old one closed: the server replaces it) is told in
	// its answer.
	l.sess.Close()
	l2 := ql16Dial(t, id)
	if got := l2.header.Get(tunnelproto.HeaderEndpointPreserveClientIP); got != "true" {
		t.Fatalf("%s: %q in the new link's answer; want \"true\"", tunnelproto.HeaderEndpointPreserveClientIP, got)
	}
}
