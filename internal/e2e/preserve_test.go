//go:build linux

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/pires/go-proxyproto"

	"github.com/postern/postern/internal/testutil/netns"
	"github.com/postern/postern/internal/testutil/sshdtest"
	"github.com/postern/postern/internal/testutil/tproxyhost"
)

// TestClientIPPreservation runs client IP preservation end to end in
// network namespaces: a client namespace, the server (the host's
// namespace), an agent namespace, and a target namespace whose only route
// back to the client goes through the agent's host. Without the agent
// host's routing the agent says what is missing, the endpoint and the
// agent list show it, and tunnels are refused; with it, a TCP echo that
// reports its peer and a real sshd (SSH_CONNECTION and its log) see the
// client's address with preservation on and the agent's with it off; a
// security group allowing only the client's address (the seed's "Allow
// inbound traffic from the client's IP address") admits the tunnel only
// with preservation on; and the PROXY protocol v2 option (tag
// postern:proxy-protocol) gives the target the client's address in a
// header read with github.com/pires/go-proxyproto.
func TestClientIPPreservation(t *testing.T) {
	netns.Require(t)
	ctx := context.Background()

	// The machines and cables.
	client := netns.New(t, "pcli")
	agentNS := netns.New(t, "pagt")
	target := netns.New(t, "ptgt")
	cl := netns.Link(t, netns.Host, client, "", "")  // host ↔ client
	ag := netns.Link(t, netns.Host, agentNS, "", "") // host ↔ agent
	tg := netns.Link(t, agentNS, target, "", "")     // agent ↔ target
	clientIP := cl.BAddr.Addr()                      // the client's address, as the server sees it
	publicIP := ag.AAddr.Addr()                      // the server's address
	agentIP := tg.AAddr.Addr()                       // the agent's address toward the target
	client.AddRoute(t, publicIP.String()+"/32", cl.AAddr.Addr().String())
	pn := netns.PrivateNet(t)      // the VPC
	openIP := netns.Nth(pn, 10)    // not registered: no ingress rules apply
	guardedIP := netns.Nth(pn, 11) // registered, in a group that admits only the client
	target.AddDummy(t, "private0", openIP.String()+"/32")
	target.AddAddress(t, "private0", guardedIP.String()+"/32")
	agentNS.AddRoute(t, pn.String(), tg.BAddr.Addr().String())
	// The target's only way back to the client: through the agent's host.
	target.AddRoute(t, "default", agentIP.String())
	if err := client.CanDial(ctx, net.JoinHostPort(openIP.String(), "22")); err == nil {
		t.Fatal("the client reaches the target directly; the test network is wrong")
	}

	// The target's services: an echo that reports its peer, one that
	// reads a PROXY v2 header, and sshd.
	const echoPort, proxyPort = "7777", "7778"
	echo := target.Listen(t, "tcp", "0.0.0.0:"+echoPort)
	go serve(echo, func(c net.Conn) {
		fmt.Fprintf(c, "peer=%s\n", c.RemoteAddr())
	})
	proxyLn := target.Listen(t, "tcp", "0.0.0.0:"+proxyPort)
	go serve(proxyLn, func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		h, err := proxyproto.Read(bufio.NewReader(c))
		if err != nil {
			fmt.Fprintf(c, "proxy-error=%v peer=%s\n", err, c.RemoteAddr())
			return
		}
		fmt.Fprintf(c, "proxy=%s dest=%s peer=%s\n", h.SourceAddr, h.DestinationAddr, c.RemoteAddr())
	})
	sshAddr := net.JoinHostPort(openIP.String(), "22")
	sshd := sshdtest.Start(t, sshdtest.Options{
		ListenAddr:    sshAddr,
		CommandPrefix: target.ExecPrefix(),
		Ready:         func(ctx context.Context) error { return agentNS.CanDial(ctx, sshAddr) },
	})

	// The server, on its address toward the agent (the client reaches it
	// through the host).
	dataDir := filepath.Join(t.TempDir(), "data")
	port := reservePort(t, publicIP)
	listen := port.addr
	writeServerConfig(t, dataDir, fmt.Sprintf("version: 1\npublic_host: %s\nadvertise: %s\nagent:\n  embedded: false\ntunnel:\n  ports: [\"22\", %q, %q]\n",
		publicIP, listen, echoPort, proxyPort))
	srv := startServerOn(t, dataDir, []*reservedPort{port})
	var agentProc *netns.Proc
	logs := func() string {
		s := srv.logs(sshd)
		if agentProc != nil {
			s += "\n--- agent output:\n" + agentProc.Output()
		}
		return s
	}

	var vpc struct{ Vpc struct{ VpcId string } }
	srv.mustJSON(t, &vpc, "ec2", "create-vpc", "--cidr-block", pn.String())
	var subnet struct{ Subnet struct{ SubnetId string } }
	srv.mustJSON(t, &subnet, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", pn.String())
	var sg struct{ GroupId string }
	srv.mustJSON(t, &sg, "ec2", "create-security-group", "--group-name", "from-client", "--description", "Allow inbound traffic from the client IP address", "--vpc-id", vpc.Vpc.VpcId)
	for _, port := range []string{"22", echoPort} {
		srv.mustCLI(t, "ec2", "authorize-security-group-ingress", "--group-id", sg.GroupId, "--protocol", "tcp", "--port", port, "--cidr", clientIP.String()+"/32")
	}
	srv.mustCLI(t, "ec2", "register-instance", "--subnet-id", subnet.Subnet.SubnetId, "--private-ip-address", guardedIP.String(), "--security-group-ids", sg.GroupId)
	var ep struct {
		InstanceConnectEndpoint struct{ InstanceConnectEndpointId string }
	}
	srv.mustJSON(t, &ep, "ec2", "create-instance-connect-endpoint", "--subnet-id", subnet.Subnet.SubnetId, "--preserve-client-ip")
	endpointID := ep.InstanceConnectEndpoint.InstanceConnectEndpointId
	var tok struct{ JoinToken string }
	srv.mustJSON(t, &tok, "ec2", "create-endpoint-join-token", "--instance-connect-endpoint-id", endpointID)

	stateDir := filepath.Join(t.TempDir(), "agent-state")
	startAgent := func(args ...string) *netns.Proc {
		cmd := agentNS.Command(context.Background(), binPath, append([]string{"endpoint-agent", "--state-dir", stateDir}, args...)...)
		cmd.Env = cleanEnv()
		return agentNS.StartCmd(t, cmd)
	}
	// tunnel opens a tunnel from the client's namespace and returns the
	// target's first line, or the client's error output.
	tunnel := func(ip, port string) (line, errOut string) {
		t.Helper()
		return openTunnelFrom(t, client, srv, endpointID, ip, port)
	}
	setPreserve := func(on bool) {
		t.Helper()
		_, err := ec2.NewFromConfig(srv.adminConfig(t)).ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{
			InstanceConnectEndpointId: aws.String(endpointID), PreserveClientIp: aws.Bool(on)})
		if err != nil {
			t.Fatalf("ModifyInstanceConnectEndpoint PreserveClientIp=%v: %v", on, err)
		}
	}

	// (a) The agent's host has the capability (root) but no routing: the
	// agent says what is missing, so do the agent list and the endpoint,
	// and tunnels are refused rather than silently not preserved.
	agentProc = startAgent("--join-token", tok.JoinToken)
	since := srv.waitAgentConnected(t, endpointID, "", logs)
	agentProc.WaitFor(t, "ip rule add fwmark 1 lookup 100", time.Minute)
	agents := describeAgents(t, srv, endpointID)
	if len(agents) != 1 || agents[0].PreserveClientIp == nil || *agents[0].PreserveClientIp ||
		!strings.Contains(agents[0].PreserveClientIpMessage, "ip rule add fwmark 1 lookup 100") ||
		!strings.Contains(agents[0].PreserveClientIpMessage, "ip route add local 0.0.0.0/0 dev lo table 100") ||
		!strings.Contains(agents[0].PreserveClientIpMessage, "socket transparent") {
		t.Fatalf("describe-endpoint-agents of an agent without routing: %+v; want PreserveClientIp false and the missing rules\n%s", agents, logs())
	}
	msg := endpointStateMessage(t, srv, endpointID)
	if !strings.Contains(msg, "Client IP preservation is unavailable") || !strings.Contains(msg, "ip rule add fwmark 1 lookup 100") {
		t.Fatalf("endpoint StateMessage %q; want the reason preservation is unavailable\n%s", msg, logs())
	}
	if line, errOut := tunnel(openIP.String(), echoPort); line != "" || !strings.Contains(errOut, "ClientIpPreservationUnavailable") ||
		!strings.Contains(errOut, "ip rule add fwmark 1 lookup 100") {
		t.Fatalf("tunnel through an agent that cannot preserve: target said %q, client stderr %q; want a ClientIpPreservationUnavailable refusal naming the missing rule\n%s", line, errOut, logs())
	}

	// (b) The agent's host set up (the README's commands), the agent
	// restarted: the target sees the client's address.
	tproxyhost.Setup(t, agentNS, tproxyhost.All)
	agentProc.Stop()
	agentProc = startAgent()
	since = srv.waitAgentConnected(t, endpointID, since, logs)
	agents = describeAgents(t, srv, endpointID)
	if len(agents) != 1 || agents[0].PreserveClientIp == nil || !*agents[0].PreserveClientIp || agents[0].PreserveClientIpMessage != "" {
		t.Fatalf("describe-endpoint-agents of a set-up agent: %+v; want PreserveClientIp true\n%s", agents, logs())
	}
	if msg := endpointStateMessage(t, srv, endpointID); msg != "" {
		t.Fatalf("endpoint StateMessage %q with an agent that can preserve; want none", msg)
	}
	wantPeer := func(when, ip, port string, want string) {
		t.Helper()
		line, errOut := tunnel(ip, port)
		host := peerHost(line)
		if host != want {
			t.Fatalf("%s: the target at %s:%s saw %q (line %q, client stderr %q); want the address %s\n%s", when, ip, port, host, line, errOut, want, logs())
		}
	}
	wantPeer("preservation on", openIP.String(), echoPort, clientIP.String())
	sshFrom := func(when, want string) {
		t.Helper()
		proxy := fmt.Sprintf("%s '%s' ec2-instance-connect open-tunnel --instance-connect-endpoint-id %s --private-ip-address %s --remote-port 22",
			strings.Join(client.ExecPrefix(), " "), binPath, endpointID, openIP)
		out, errOut, code := runSSH(t, sshd.Command(ctx, proxy, "target", `echo "$SSH_CONNECTION"`), srv.env())
		f := strings.Fields(out)
		if code != 0 || len(f) != 4 || f[0] != want || f[2] != openIP.String() {
			t.Fatalf("%s: ssh: exit %d, SSH_CONNECTION %q, stderr %q; want it to come from %s\n%s", when, code, out, errOut, want, logs())
		}
		if !strings.Contains(sshd.Log(), "from "+want+" port "+f[1]) {
			t.Fatalf("%s: the sshd log does not show the connection from %s port %s:\n%s", when, want, f[1], sshd.Log())
		}
	}
	sshFrom("preservation on", clientIP.String())
	// The group that admits only the client's address admits the tunnel.
	wantPeer("preservation on, a group admitting only the client", guardedIP.String(), echoPort, clientIP.String())
	// The seed's limit: with preservation the target is in the endpoint's
	// VPC (the agent's link address is outside it).
	if line, errOut := tunnel(tg.BAddr.Addr().String(), echoPort); line != "" || !strings.Contains(errOut, "InvalidParameter") || !strings.Contains(errOut, "is not in the VPC") {
		t.Fatalf("preservation on, a target outside the VPC: target said %q, client stderr %q; want InvalidParameter\n%s", line, errOut, logs())
	}

	// (c) Preservation off: the target sees the agent, and the group
	// that admits only the client's address refuses the tunnel.
	setPreserve(false)
	wantPeer("preservation off", openIP.String(), echoPort, agentIP.String())
	sshFrom("preservation off", agentIP.String())
	if line, errOut := tunnel(guardedIP.String(), echoPort); line != "" || !strings.Contains(errOut, "AccessDeniedException") {
		t.Fatalf("preservation off, a group admitting only the client: target said %q, client stderr %q; want AccessDeniedException\n%s", line, errOut, logs())
	}

	// (d) PROXY protocol v2 (Postern's extension, by tag), for one port:
	// the header carries the client's address; the connection comes from
	// the agent (preservation is off).
	_, err := ec2.NewFromConfig(srv.adminConfig(t)).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{endpointID},
		Tags: []ec2types.Tag{{Key: aws.String("postern:proxy-protocol"), Value: aws.String("v2")},
			{Key: aws.String("postern:proxy-protocol-ports"), Value: aws.String(proxyPort)}}})
	if err != nil {
		t.Fatalf("tag the endpoint: %v", err)
	}
	line, errOut := tunnel(openIP.String(), proxyPort)
	fields := strings.Fields(line)
	if len(fields) != 3 || !strings.HasPrefix(fields[0], "proxy="+clientIP.String()+":") ||
		fields[1] != "dest="+net.JoinHostPort(openIP.String(), proxyPort) || peerHost(fields[2]) != agentIP.String() {
		t.Fatalf("PROXY v2: the target read %q (client stderr %q); want the client's address %s in the header, from the agent %s\n%s", line, errOut, clientIP, agentIP, logs())
	}
	// Ports outside the tag's list get no header.
	wantPeer("PROXY v2 on another port", openIP.String(), echoPort, agentIP.String())
	// With preservation too, both say the client.
	setPreserve(true)
	line, errOut = tunnel(openIP.String(), proxyPort)
	if fields := strings.Fields(line); len(fields) != 3 || !strings.HasPrefix(fields[0], "proxy="+clientIP.String()+":") || peerHost(fields[2]) != clientIP.String() {
		t.Fatalf("PROXY v2 and preservation: the target read %q (client stderr %q)\n%s", line, errOut, logs())
	}
}

// serve accepts connections until ln closes, handing each to fn and
// closing it afterwards.
func serve(ln net.Listener, fn func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			fn(c)
		}()
	}
}

// peerHost returns the address in a "peer=HOST:PORT" field (or the last
// such field of a line), "" when there is none.
func peerHost(line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return ""
	}
	_, hp, ok := strings.Cut(f[len(f)-1], "=")
	if !ok {
		return ""
	}
	h, _, err := net.SplitHostPort(hp)
	if err != nil {
		return ""
	}
	return h
}

// openTunnelFrom runs `postern ec2-instance-connect open-tunnel` (stdin and
// stdout as the tunnel) inside ns and returns the first line the target
// sends, or "" and the client's error output when none arrives.
func openTunnelFrom(t *testing.T, ns *netns.NS, srv *serverProc, endpointID, ip, port string) (line, errOut string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := ns.Command(ctx, binPath, "ec2-instance-connect", "open-tunnel", "--instance-connect-endpoint-id", endpointID,
		"--private-ip-address", ip, "--remote-port", port)
	cmd.Env = append(cleanEnv(), srv.env()...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		first <- strings.TrimSpace(l)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	line = <-first // "" when the client exited without output
	if line != "" {
		_ = cmd.Process.Kill()
	}
	err = cmd.Wait()
	if line == "" {
		return "", fmt.Sprintf("(exit: %v) %s", err, stderr.String())
	}
	return line, stderr.String()
}

type agentInfo struct {
	AgentId, State          string
	PreserveClientIp        *bool
	PreserveClientIpMessage string
	ProxyProtocolV2         *bool
}

func describeAgents(t *testing.T, srv *serverProc, endpointID string) []agentInfo {
	t.Helper()
	var out struct{ EndpointAgents []agentInfo }
	srv.mustJSON(t, &out, "ec2", "describe-endpoint-agents", "--instance-connect-endpoint-id", endpointID)
	var connected []agentInfo
	for _, a := range out.EndpointAgents {
		if a.State == "connected" {
			connected = append(connected, a)
		}
	}
	return connected
}

func endpointStateMessage(t *testing.T, srv *serverProc, endpointID string) string {
	t.Helper()
	var out struct {
		InstanceConnectEndpoints []struct{ State, StateMessage string }
	}
	raw := srv.mustCLI(t, "ec2", "describe-instance-connect-endpoints", "--instance-connect-endpoint-ids", endpointID)
	if err := json.Unmarshal([]byte(raw), &out); err != nil || len(out.InstanceConnectEndpoints) != 1 {
		t.Fatalf("describe-instance-connect-endpoints: %v\n%s", err, raw)
	}
	return out.InstanceConnectEndpoints[0].StateMessage
}
