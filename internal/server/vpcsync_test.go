package server_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestLinkedAgentLearnsNewVPCBlock: an IPv6 block associated with the VPC
// of a linked agent reaches the agent on its link (ControlVPC), so once the
// endpoint is dual-stack a tunnel to an IPv6 target in the new block opens
// without the agent reconnecting: its link stays the same one.
func TestLinkedAgentLearnsNewVPCBlock(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	ctx := context.Background()
	vpc, subnet, ep, def := e.Network("127.0.0.0/16", "127.0.0.0/24")

	// An echo on the IPv6 loopback address.
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("listen on [::1]: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	a := e.StartAgent(ep, agent.Config{AllowLoopback: true, AllowHost: true})
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	since := e.Server.Relay().Connected(ep)[0].ConnectedSince

	c := e.EC2(e.Admin)
	// The endpoint's group (the VPC's default, made without IPv6) may
	// reach IPv6 addresses.
	if _, err := c.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(def),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("-1"), Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}}}}); err != nil {
		t.Fatal(err)
	}
	target := client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "::1", RemotePort: port}
	if tun, err := e.Dialer(e.Admin).Dial(ctx, target); err == nil {
		tun.Close()
		t.Fatal("a tunnel to ::1 opened before the VPC had an IPv6 block")
	}
	// IPv6 for the network as an operator adds it: a block for the VPC
	// and its subnet, and the endpoint made dual-stack.
	if _, err := c.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(vpc), Ipv6CidrBlock: aws.String("::/64")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssociateSubnetCidrBlock(ctx, &ec2.AssociateSubnetCidrBlockInput{SubnetId: aws.String(subnet), Ipv6CidrBlock: aws.String("::/64")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{InstanceConnectEndpointId: aws.String(ep),
		IpAddressType: ec2types.IpAddressTypeDualstack}); err != nil {
		t.Fatal(err)
	}
	// The agent hears of the block at the relay's next look at the store
	// (within its revocation poll); until then it refuses ::1.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tun, err := e.Dialer(e.Admin).Dial(ctx, target)
		if err == nil {
			_, werr := io.WriteString(tun, "ping")
			buf := make([]byte, 4)
			_, rerr := io.ReadFull(tun, buf)
			tun.Close()
			if werr == nil && rerr == nil && string(buf) == "ping" {
				break
			}
			err = rerr
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tunnel to [::1]:%d 10 s after the VPC got ::/64: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := e.Server.Relay().Connected(ep); len(got) != 1 || !got[0].ConnectedSince.Equal(since) {
		t.Errorf("the agent's link changed (%+v); it should have learned the block on its link", got)
	}
}
