package relay_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

func start(t *testing.T) *tunneltest.Env {
	return tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.Tunnel.Ports = []string{"*"}
		c.EC2.EndpointsPerVPC, c.EC2.EndpointsPerSubnet = -1, -1
	}})
}

func fast() agent.Config {
	return agent.Config{MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, DrainTimeout: 100 * time.Millisecond}
}

// The endpoint-agent actions: join tokens, listing, revocation, and who
// may use them.
func TestAgentActions(t *testing.T) {
	e := start(t)
	_, _, ep, _ := e.Network("10.20.0.0/16", "10.20.1.0/24")
	// A fresh endpoint waits for its first agent.
	c := e.EC2(e.Admin)
	state := func() (string, []string) {
		out, err := c.DescribeInstanceConnectEndpoints(context.Background(), &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{ep}})
		if err != nil {
			t.Fatal(err)
		}
		return string(out.InstanceConnectEndpoints[0].State), out.InstanceConnectEndpoints[0].NetworkInterfaceIds
	}
	if s, enis := state(); s != "create-in-progress" || len(enis) != 0 {
		t.Fatalf("new endpoint: %s %v", s, enis)
	}
	a1 := e.StartAgent(ep, fast())
	a2 := e.StartAgent(ep, fast())
	e.WaitConnected(a1.ID.AgentID, 10*time.Second)
	e.WaitConnected(a2.ID.AgentID, 10*time.Second)
	if s, enis := state(); s != "create-complete" || len(enis) != 2 {
		t.Fatalf("after two agents joined: %s %v", s, enis)
	}
	out, err := e.Call(e.Admin, "DescribeEndpointAgents", map[string]string{"InstanceConnectEndpointId": ep})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{a1.ID.AgentID, a2.ID.AgentID, "<state>connected</state>", "<connectedSince>", "<version>dev</version>"} {
		if !strings.Contains(out, want) {
			t.Errorf("DescribeEndpointAgents lacks %q:\n%s", want, out)
		}
	}
	// Revoking one: it stops for good and leaves the endpoint.
	if _, err := e.Call(e.Admin, "RevokeEndpointAgent", map[string]string{"AgentId": a1.ID.AgentID}); err != nil {
		t.Fatal(err)
	}
	<-a1.Done()
	var pe *agent.PermanentError
	if !errors.As(a1.Err(), &pe) {
		t.Fatalf("revoked agent ended with %v", a1.Err())
	}
	if _, enis := state(); len(enis) != 1 || enis[0] != a2.ID.AgentID {
		t.Fatalf("interfaces after the revocation: %v", enis)
	}
	out, _ = e.Call(e.Admin, "DescribeEndpointAgents", map[string]string{"InstanceConnectEndpointId": ep})
	if !strings.Contains(out, "<state>revoked</state>") {
		t.Errorf("no revoked agent listed:\n%s", out)
	}
	// Errors.
	if _, err := e.Call(e.Admin, "RevokeEndpointAgent", map[string]string{"AgentId": "eni-00000000000000000"}); err == nil || !strings.Contains(err.Error(), "InvalidAgentId.NotFound") {
		t.Errorf("unknown agent: %v", err)
	}
	if _, err := e.Call(e.Admin, "CreateEndpointJoinToken", map[string]string{"InstanceConnectEndpointId": ep, "ExpiresInSeconds": "5"}); err == nil || !strings.Contains(err.Error(), "InvalidParameterValue") {
		t.Errorf("a 5-second token: %v", err)
	}
	if _, err := e.Call(e.Admin, "CreateEndpointJoinToken", map[string]string{"InstanceConnectEndpointId": "eice-00000000000000000"}); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("token for an unknown endpoint: %v", err)
	}
	// Authorization: a user without the actions is refused.
	nobody := e.NewUser("nobody", "")
	for action, params := range map[string]map[string]string{
		"CreateEndpointJoinToken": {"InstanceConnectEndpointId": ep},
		"DescribeEndpointAgents":  {},
		"RevokeEndpointAgent":     {"AgentId": a2.ID.AgentID},
	} {
		if _, err := e.Call(nobody, action, params); err == nil || !strings.Contains(err.Error(), "UnauthorizedOperation") {
			t.Errorf("%s by a user without policy: %v", action, err)
		}
	}
	// A user allowed on this endpoint only.
	scoped := e.NewUser("scoped", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:CreateEndpointJoinToken","ec2:DescribeEndpointAgents"],
		"Resource":"arn:aws:ec2:*:*:instance-connect-endpoint/`+ep+`"}]}`)
	if _, err := e.Call(scoped, "CreateEndpointJoinToken", map[string]string{"InstanceConnectEndpointId": ep}); err != nil {
		t.Errorf("scoped user on its endpoint: %v", err)
	}
	if _, err := e.Call(scoped, "DescribeEndpointAgents", map[string]string{}); err == nil {
		t.Error("scoped user listed every endpoint's agents")
	}
}

// Deleting an endpoint disconnects its agents for good and completes the
// deletion.
func TestDeleteEndpointDisconnectsAgents(t *testing.T) {
	e := start(t)
	_, _, ep, _ := e.Network("10.21.0.0/16", "10.21.1.0/24")
	a := e.StartAgent(ep, fast())
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	c := e.EC2(e.Admin)
	if _, err := c.DeleteInstanceConnectEndpoint(context.Background(), &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: aws.String(ep)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the agent of a deleted endpoint kept running")
	}
	var pe *agent.PermanentError
	if !errors.As(a.Err(), &pe) {
		t.Fatalf("agent ended with %v", a.Err())
	}
	out, err := c.DescribeInstanceConnectEndpoints(context.Background(), &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{ep}})
	if err != nil {
		t.Fatal(err)
	}
	if s := out.InstanceConnectEndpoints[0].State; s != "delete-complete" {
		t.Fatalf("state after the delete: %s", s)
	}
}
