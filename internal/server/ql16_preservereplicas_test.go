package server_test

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
	"github.com/postern/postern/internal/testutil/pgtest"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/wire/linkmux"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestQL16ReplicaTellsItsAgentPreserveChanged: PreserveClientIp modified
// through replica A reaches an agent linked to replica B only, on B's
// link (ControlPreserveClientIP), as the VPC's networks do: each replica
// tells the agents linked to it when it sees the store change. The link is
// spoken by the test, as the agent would, to see the message itself.
// Before: no message.
func TestQL16ReplicaTellsItsAgentPreserveChanged(t *testing.T) {
	opts := replicaConfig(pgtest.Start(t), 200*time.Millisecond)
	a := tunneltest.Start(t, tunneltest.Options{Config: opts})
	b := tunneltest.Start(t, tunneltest.Options{Config: opts, DataDir: a.Dir})
	ctx := context.Background()
	_, _, ep, _ := a.Network("10.0.0.0/16", "10.0.0.0/24")
	id, err := agent.Join(ctx, a.JoinToken(ep), agent.Config{StateDir: filepath.Join(t.TempDir(), "agent")})
	if err != nil {
		t.Fatal(err)
	}

	// The agent's link to B, by hand.
	host, _, _ := net.SplitHostPort(b.Addr)
	roots := x509.NewCertPool()
	roots.AddCert(id.CA)
	d := &tls.Dialer{Config: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: roots,
		Certificates: []tls.Certificate{id.Cert}, NextProtos: tunnelproto.AgentNextProtos()}}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", b.Addr)
	if err != nil {
		t.Fatalf("dial B: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n",
		tunnelproto.LinkPath, host, tunnelproto.UpgradeProtocol); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("link answer from B: %v %v", resp, err)
	}
	_ = conn.SetDeadline(time.Time{})
	sess, err := linkmux.Acceptor(&netutil.BufferedConn{Conn: conn, R: br}, linkmux.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctrl, err := sess.Open(dctx)
	if err != nil {
		t.Fatal(err)
	}
	b.WaitConnected(id.AgentID, 10*time.Second)

	if _, err := a.EC2(a.Admin).ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{
		InstanceConnectEndpointId: aws.String(ep), PreserveClientIp: aws.Bool(true)}); err != nil {
		t.Fatalf("modify through A: %v", err)
	}
	_ = ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	sc := bufio.NewScanner(ctrl)
	for sc.Scan() {
		var m tunnelproto.Control
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("control line %q: %v", sc.Bytes(), err)
		}
		if m.Type != tunnelproto.ControlPreserveClientIP {
			continue // the replicas' list
		}
		if m.PreserveClientIP == nil || !*m.PreserveClientIP {
			t.Fatalf("B told %s; want preserveClientIp true", sc.Bytes())
		}
		return
	}
	t.Fatalf("B sent no %q message: %v", tunnelproto.ControlPreserveClientIP, sc.Err())
}
