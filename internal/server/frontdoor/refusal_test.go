package frontdoor_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/refused"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// presignQuery signs an openTunnel query as given (any parameters, any
// service, any time) with the AWS SDK's signer; expires "" sends no
// X-Amz-Expires (the SDK's form). Parameters the caller put in q stay in
// q's order of values.
func presignQuery(t *testing.T, e *tunneltest.Env, creds aws.Credentials, q url.Values, service, expires string, at time.Time) string {
	t.Helper()
	q = cloneValues(q)
	if expires != "" {
		q.Set("X-Amz-Expires", expires)
	}
	u := "https://" + e.DNSName() + "/openTunnel?" + q.Encode()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, emptySHA, service, e.Region, at)
	if err != nil {
		t.Fatal(err)
	}
	return "wss" + strings.TrimPrefix(signed, "https")
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func query(endpoint string, port string, ip string, extra ...string) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "-" {
			q.Set(k, v)
		}
	}
	set("instanceConnectEndpointId", endpoint)
	set("remotePort", port)
	set("privateIpAddress", ip)
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

// policy returns an identity policy allowing OpenTunnel under conditions
// (a JSON object, or "" for none), plus the lookups a client makes.
func policy(condition string) string {
	stmt := `{"Effect":"Allow","Action":"ec2-instance-connect:OpenTunnel","Resource":"*"`
	if condition != "" {
		stmt += `,"Condition":` + condition
	}
	return `{"Version":"2012-10-17","Statement":[` + stmt + `}]}`
}

// TestRefusals covers every refusal of docs/architecture.md §2 step 2, in order, each
// answered before any upgrade with its HTTP status and ErrorCode, and each
// recorded as an OpenTunnel event with that errorCode. The agent's dial
// answers after the 101 (the upgrade does not wait for it): a failed dial
// closes the WebSocket with 1011 and the dial's message, is recorded as the
// same refused OpenTunnel event, and has no CloseTunnel event.
func TestRefusals(t *testing.T) {
	// A port this test holds bound but not listening stands in for a target that
	// refuses: nothing is assumed about the host's own ports (an RDP or
	// echo service may listen on 3389). The port policy allows it besides
	// AWS's 22 and 3389.
	closed := closedPort(t)
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.EC2.EndpointsPerVPC, c.EC2.EndpointsPerSubnet = -1, -1
		c.Tunnel.Ports = []string{"22", "3389", strconv.Itoa(closed)}
	}})
	ctx := context.Background()
	local := e.Server.Local
	admin := e.Admin
	nobody := e.NewUser("nobody", "")
	rdpOnly := e.NewUser("rdp-only", policy(`{"NumericEquals":{"ec2-instance-connect:remotePort":"3389"}}`))
	closedOnly := e.NewUser("closed-only", policy(`{"NumericEquals":{"ec2-instance-connect:remotePort":"`+strconv.Itoa(closed)+`"}}`))
	capped := e.NewUser("capped", policy(`{"NumericLessThanEquals":{"ec2-instance-connect:maxTunnelDuration":"600"}}`))
	elsewhere := e.NewUser("elsewhere", policy(`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`))
	prodOnly := e.NewUser("prod-only", policy(`{"StringEquals":{"aws:ResourceTag/env":"prod"}}`))

	// A second network: an endpoint with a connected (in-process) agent,
	// whose security group only lets it reach 10.9.1.20:22, and an
	// instance there whose group admits nothing.
	c := e.EC2(admin)
	vpc2, subnet2, ep2, _ := e.Network("10.9.0.0/16", "10.9.1.0/24")
	epSG := newGroup(t, c, vpc2, "endpoint-sg")
	revokeAllEgress(t, c, epSG)
	authorize(t, c, epSG, true, "10.9.1.20/32", 22)
	instSG := newGroup(t, c, vpc2, "instance-sg")
	registerInstance(t, e, subnet2, "10.9.1.20", instSG)
	a2 := e.StartAgent(ep2, agent.Config{})
	e.WaitConnected(a2.ID.AgentID, 10*time.Second)
	if _, err := c.ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{
		InstanceConnectEndpointId: aws.String(ep2), SecurityGroupIds: []string{epSG}}); err != nil {
		t.Fatal(err)
	}

	// An endpoint still being created (no agent ever joined).
	_, _, pending, _ := e.Network("10.8.0.0/16", "10.8.1.0/24")
	// An endpoint whose only agent joined and then stopped.
	_, _, idle, _ := e.Network("10.7.0.0/16", "10.7.1.0/24")
	a3 := e.StartAgent(idle, agent.Config{})
	e.WaitConnected(a3.ID.AgentID, 10*time.Second)
	a3.Stop()
	waitDisconnected(t, e, a3.ID.AgentID)

	localTarget := func(port int, max int) client.Target {
		tg := e.Local(port)
		tg.MaxTunnelDuration = max
		return tg
	}
	now := time.Now()
	type tc struct {
		name   string
		url    func() string
		status int
		code   string
		msg    string // part of the message
	}
	signed := func(creds aws.Credentials, tg client.Target) func() string {
		return func() string {
			u, err := client.PresignURL(ctx, creds, e.Region, tg, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
	}
	raw := func(creds aws.Credentials, q url.Values, service string, at time.Time) func() string {
		return func() string { return presignQuery(t, e, creds, q, service, "60", at) }
	}
	L := local.EndpointID
	cases := []tc{
		// 1. The signature.
		{"unsigned", func() string {
			return "wss://" + e.DNSName() + "/openTunnel?" + query(L, "22", "127.0.0.1").Encode()
		}, 403, "MissingAuthenticationTokenException", "presigned"},
		{"tampered signature", func() string {
			u := signed(admin, localTarget(22, 0))()
			repl := "0"
			if u[len(u)-1] == '0' {
				repl = "1"
			}
			return u[:len(u)-1] + repl
		}, 403, "InvalidSignatureException", "signature"},
		{"parameter changed after signing", func() string {
			return strings.Replace(signed(admin, localTarget(3389, 0))(), "remotePort=3389", "remotePort=22", 1)
		}, 403, "InvalidSignatureException", "signature"},
		{"unknown access key", signed(aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "x"}, localTarget(22, 0)),
			403, "UnrecognizedClientException", ""},
		{"expired", raw(admin, query(L, "22", "127.0.0.1"), "ec2-instance-connect", now.Add(-2*time.Minute)), 403, "InvalidSignatureException", "expired"},
		{"signed in the future", raw(admin, query(L, "22", "127.0.0.1"), "ec2-instance-connect", now.Add(20*time.Minute)), 403, "InvalidSignatureException", "not yet current"},
		{"signed for another service", raw(admin, query(L, "22", "127.0.0.1"), "ec2", now), 403, "InvalidSignatureException", "ec2-instance-connect"},
		// Parameters.
		{"no endpoint id", raw(admin, query("-", "22", "127.0.0.1"), "ec2-instance-connect", now), 400, "InvalidParameter", "instanceConnectEndpointId"},
		{"malformed endpoint id", raw(admin, query("eice-$$", "22", "127.0.0.1"), "ec2-instance-connect", now), 400, "InvalidInstanceConnectEndpointId.Malformed", "eice-"},
		{"no port", raw(admin, query(L, "-", "127.0.0.1"), "ec2-instance-connect", now), 400, "InvalidParameter", "remotePort"},
		{"port not a number", raw(admin, query(L, "ssh", "127.0.0.1"), "ec2-instance-connect", now), 400, "InvalidParameter", "RemotePort"},
		{"port out of range", raw(admin, query(L, "70000", "127.0.0.1"), "ec2-instance-connect", now), 400, "InvalidParameter", "RemotePort"},
		{"no address", raw(admin, query(L, "22", "-"), "ec2-instance-connect", now), 400, "InvalidParameter", "privateIpAddress"},
		{"address not an IP", raw(admin, query(L, "22", "localhost"), "ec2-instance-connect", now), 400, "InvalidParameter", "PrivateIpAddress"},
		{"duration zero", raw(admin, query(L, "22", "127.0.0.1", "maxTunnelDuration", "0"), "ec2-instance-connect", now), 400, "InvalidParameter", "MaxTunnelDuration"},
		{"duration over the maximum", raw(admin, query(L, "22", "127.0.0.1", "maxTunnelDuration", "3601"), "ec2-instance-connect", now), 400, "InvalidParameter", "MaxTunnelDuration"},
		// 2. The endpoint.
		{"unknown endpoint", raw(admin, query("eice-00000000000000000", "22", "127.0.0.1"), "ec2-instance-connect", now), 404, "InvalidInstanceConnectEndpointId.NotFound", "does not exist"},
		{"endpoint not ready", raw(admin, query(pending, "22", "10.8.1.5"), "ec2-instance-connect", now), 409, "IncorrectState", "create-in-progress"},
		{"no agent connected", raw(admin, query(idle, "22", "10.7.1.5"), "ec2-instance-connect", now), 503, "EndpointUnavailable", "No endpoint agent"},
		// 3. The port policy (AWS's wording for AWS's policy is checked in
		// TestParsePorts; here the policy also has the closed port).
		{"port not allowed", signed(admin, localTarget(8080, 0)), 400, "InvalidParameter",
			"The specified RemotePort is not valid. Specify one of 22, 3389, " + strconv.Itoa(closed) + " as the RemotePort"},
		// 4. The address.
		{"address outside the VPC", raw(admin, query(L, "22", "10.1.2.3"), "ec2-instance-connect", now), 400, "InvalidParameter", "not in the VPC"},
		{"IPv6 address on an IPv4 endpoint", raw(admin, query(L, "22", "::1"), "ec2-instance-connect", now), 400, "InvalidParameter", "IpAddressType ipv4"},
		// 5. IAM.
		{"no policy", signed(nobody, localTarget(22, 0)), 403, "AccessDeniedException", "is not authorized to perform: ec2-instance-connect:OpenTunnel"},
		{"policy allows only port 3389", signed(rdpOnly, localTarget(22, 0)), 403, "AccessDeniedException", "not authorized"},
		{"policy caps the duration, request omits it", signed(capped, localTarget(22, 0)), 403, "AccessDeniedException", "not authorized"},
		{"policy caps the duration, request asks more", signed(capped, localTarget(22, 900)), 403, "AccessDeniedException", "not authorized"},
		{"policy limits the source address", signed(elsewhere, localTarget(22, 0)), 403, "AccessDeniedException", "not authorized"},
		{"policy needs a resource tag", signed(prodOnly, localTarget(22, 0)), 403, "AccessDeniedException", "not authorized"},
		// 6. Security groups.
		{"endpoint egress denies", raw(admin, query(ep2, "22", "10.9.1.10"), "ec2-instance-connect", now), 403, "AccessDeniedException", "do not allow outbound"},
		{"instance ingress denies", raw(admin, query(ep2, "22", "10.9.1.20"), "ec2-instance-connect", now), 403, "AccessDeniedException", "do not allow inbound"},
		// After every check and the 101: the agent's dial (to the port
		// held closed above); status 101 means upgraded, then closed 1011.
		{"target refuses", signed(closedOnly, localTarget(closed, 0)), 101, "ConnectionRefused", "Connection refused"},
		{"capped policy, request within the cap", signed(capped, localTarget(closed, 600)), 101, "ConnectionRefused", "Connection refused"},
	}
	d := e.Dialer(admin)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(events(t, e, "OpenTunnel"))
			closes := len(events(t, e, "CloseTunnel"))
			tun, err := d.DialURL(ctx, tc.url(), e.DNSName())
			if tc.status == http.StatusSwitchingProtocols {
				if err != nil {
					t.Fatalf("want the upgrade, then a close: %v", err)
				}
				closedWith(t, tun, 1011, tc.msg)
				tun.Close()
				// The tunnel opened on record (its OpenTunnel committed
				// while the agent dialled) and its close, committed
				// before the close frame, has the dial's failure.
				evs := events(t, e, "CloseTunnel")
				if len(evs) != closes+1 {
					t.Fatalf("%d CloseTunnel events after a failed dial, want %d (its own)", len(evs), closes+1)
				}
				if d := readClose(t, evs[0]); d.Reason != tc.code || d.CloseCode != 1011 || !strings.Contains(d.Message, tc.msg) {
					t.Errorf("the failed dial's CloseTunnel %+v, want reason %q, code 1011 and a message with %q", d, tc.code, tc.msg)
				}
				tc.code = "" // its OpenTunnel succeeded
			} else {
				if err == nil {
					tun.Close()
				}
				wantRefusal(t, err, tc.status, tc.code, tc.msg)
			}
			evs := events(t, e, "OpenTunnel")
			if len(evs) != before+1 {
				t.Fatalf("%d OpenTunnel events after the attempt, want %d", len(evs), before+1)
			}
			if evs[0].ErrorCode != tc.code {
				t.Errorf("the attempt was recorded with errorCode %q, want %q", evs[0].ErrorCode, tc.code)
			}
		})
	}

	t.Run("not a WebSocket upgrade", func(t *testing.T) {
		resp, err := e.HTTP.Get(e.URL + "/openTunnel?" + query(L, "22", "127.0.0.1").Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), `"ErrorCode":"InvalidParameter"`) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

// closedPort returns a loopback TCP port that refuses connections for as
// long as the test runs: a socket of the test's holds it bound but never
// listens (refused.Addr), so no other process can take it meanwhile. It
// is never 8080, which TestRefusals uses as a port outside the policy.
func closedPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 10; i++ {
		_, p, err := net.SplitHostPort(refused.Addr(t))
		if err != nil {
			t.Fatal(err)
		}
		port, err := strconv.Atoi(p)
		if err != nil {
			t.Fatal(err)
		}
		if port != 8080 {
			return port
		}
	}
	t.Fatal("no free loopback port other than 8080")
	return 0
}

// The endpoint's concurrency limit.
func TestConcurrencyLimit(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		allPorts(c)
		c.Tunnel.ConcurrencyPerEndpoint = 1
	}})
	echo := tunneltest.Echo(t)
	d := e.Dialer(e.Admin)
	first, err := d.Dial(context.Background(), e.Local(echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Dial(context.Background(), e.Local(echo.Port))
	wantRefusal(t, err, 429, "ThrottlingException", "limit of 1 concurrent")
	roundTrip(t, first, "still open")
	first.CloseWrite()
	io.Copy(io.Discard, first)
	first.Close()
	// The slot is free again once the first tunnel is over.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tun, err := d.Dial(context.Background(), e.Local(echo.Port))
		if err == nil {
			tun.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot was not released: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newGroup(t *testing.T, c *ec2.Client, vpc, name string) string {
	t.Helper()
	g, err := c.CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{VpcId: aws.String(vpc), GroupName: aws.String(name), Description: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return *g.GroupId
}

func revokeAllEgress(t *testing.T, c *ec2.Client, group string) {
	t.Helper()
	if _, err := c.RevokeSecurityGroupEgress(context.Background(), &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(group),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		t.Fatal(err)
	}
}

func authorize(t *testing.T, c *ec2.Client, group string, egress bool, cidr string, port int32) {
	t.Helper()
	perm := []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
		IpRanges: []ec2types.IpRange{{CidrIp: aws.String(cidr)}}}}
	var err error
	if egress {
		_, err = c.AuthorizeSecurityGroupEgress(context.Background(), &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(group), IpPermissions: perm})
	} else {
		_, err = c.AuthorizeSecurityGroupIngress(context.Background(), &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(group), IpPermissions: perm})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func registerInstance(t *testing.T, e *tunneltest.Env, subnet, ip, group string) {
	t.Helper()
	if _, err := e.Call(e.Admin, "RegisterInstance", map[string]string{"SubnetId": subnet, "PrivateIpAddress": ip, "SecurityGroupId.1": group}); err != nil {
		t.Fatal(err)
	}
}

func waitDisconnected(t *testing.T, e *tunneltest.Env, agentID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		found := false
		for _, a := range e.Server.Relay().Connected("") {
			found = found || a.AgentID == agentID
		}
		if !found {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("agent %s still connected", agentID)
}
