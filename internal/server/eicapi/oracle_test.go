package eicapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// answer is what a refused caller is told: the code, the HTTP status (0
// when the client does not expose it) and the message with the asked-for
// id replaced by <id>.
type answer struct {
	code    string
	status  int
	message string
}

func answerOf(t *testing.T, err error, id string) answer {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("%s: %v, want an AWS error", id, err)
	}
	a := answer{code: ae.ErrorCode(), message: strings.ReplaceAll(ae.ErrorMessage(), id, "<id>")}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		a.status = re.HTTPStatusCode()
	}
	return a
}

// No existence oracle: a caller without permission is told the same, in
// the same words, about a resource that exists and one that does not, as
// AWS authorizes before it looks up.
func TestNoExistenceOracle(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	ctx := context.Background()
	echo := tunneltest.Echo(t)
	tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	if _, err := tun.Write([]byte("x")); err != nil { // the tunnel is listed once it carried a byte
		t.Fatal(err)
	}
	if _, err := io.ReadFull(tun, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	out, err := e.CallJSON(e.Admin, "ListTunnels", map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	var l listed
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Tunnels) != 1 {
		t.Fatalf("listing %s: %v", out, err)
	}
	admin := iam.NewFromConfig(e.AWS(e.Admin))
	if _, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("Svc"), Path: aws.String("/service/"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
		t.Fatal(err)
	}
	nobody := e.NewUser("nobody", "")
	line, _ := newKey(t)
	vpc, subnet, _, group := e.Network("10.9.0.0/16", "10.9.1.0/24")
	peer, err := e.EC2(e.Admin).CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: aws.String(vpc), GroupName: aws.String("peer"), Description: aws.String("peer")})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name            string
		existing, other string
		call            func(who aws.Credentials, id string) error
	}{
		{"TerminateTunnel", l.Tunnels[0].TunnelId, "tnl-00000000000000000", func(who aws.Credentials, id string) error {
			_, err := e.CallJSON(who, "TerminateTunnel", map[string]string{"TunnelId": id})
			return err
		}},
		{"SendSSHPublicKey", e.Server.Local.InstanceID, "i-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := eic(e, who).SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(id),
				InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(line)})
			return err
		}},
		// The name in another case than created, and a path: neither may
		// show through the denial.
		{"iam GetUser", "ADMIN", "NOSUCHUSER", func(who aws.Credentials, id string) error {
			_, err := iam.NewFromConfig(e.AWS(who)).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(id)})
			return err
		}},
		{"iam GetRole", "svc", "nosuchrole", func(who aws.Credentials, id string) error {
			_, err := iam.NewFromConfig(e.AWS(who)).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(id)})
			return err
		}},
		{"iam ListUserPolicies", "ADMIN", "NOSUCHUSER", func(who aws.Credentials, id string) error {
			_, err := iam.NewFromConfig(e.AWS(who)).ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String(id)})
			return err
		}},
		// EC2: the ARN is built from the id alone.
		{"ec2 DeleteVpc", vpc, "vpc-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(id)})
			return err
		}},
		{"ec2 DeleteSubnet", subnet, "subnet-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(id)})
			return err
		}},
		{"ec2 DeleteSecurityGroup", group, "sg-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
			return err
		}},
		{"ec2 AuthorizeSecurityGroupIngress", group, "sg-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id),
				IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIp: aws.String("10.0.0.0/8")})
			return err
		}},
		// A group a rule refers to: the target group is authorized first.
		{"ec2 AuthorizeSecurityGroupIngress referring to a group", aws.ToString(peer.GroupId), "sg-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(group),
				IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
					UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(id)}}}}})
			return err
		}},
		{"ec2 ModifyInstanceAttribute", e.Server.Local.InstanceID, "i-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id), Groups: []string{group}})
			return err
		}},
		{"ec2 DeregisterInstance", e.Server.Local.InstanceID, "i-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.Call(who, "DeregisterInstance", map[string]string{"InstanceId": id})
			return err
		}},
		// Endpoints, and the agent actions that name one.
		{"ec2 DeleteInstanceConnectEndpoint", e.Server.Local.EndpointID, "eice-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: aws.String(id)})
			return err
		}},
		// An unknown group: the endpoint is authorized before the groups
		// are looked at.
		{"ec2 ModifyInstanceConnectEndpoint", e.Server.Local.EndpointID, "eice-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{InstanceConnectEndpointId: aws.String(id),
				SecurityGroupIds: []string{"sg-0000000000000000e"}})
			return err
		}},
		{"ec2 CreateEndpointJoinToken", e.Server.Local.EndpointID, "eice-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.Call(who, "CreateEndpointJoinToken", map[string]string{"InstanceConnectEndpointId": id})
			return err
		}},
		{"ec2 DescribeEndpointAgents", e.Server.Local.EndpointID, "eice-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.Call(who, "DescribeEndpointAgents", map[string]string{"InstanceConnectEndpointId": id})
			return err
		}},
		// An agent id does not name its endpoint: the denial names every
		// endpoint, whichever the agent is on.
		{"ec2 RevokeEndpointAgent", e.Server.Local.AgentID, "eni-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.Call(who, "RevokeEndpointAgent", map[string]string{"AgentId": id})
			return err
		}},
		// Creates in a parent: the parent is authorized (on the ARN built
		// from its id) before anything about it is told, such as whether
		// a CIDR block or an address fits it.
		{"ec2 CreateSubnet", vpc, "vpc-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(id), CidrBlock: aws.String("10.9.2.0/24")})
			return err
		}},
		{"ec2 CreateSubnet outside the VPC", vpc, "vpc-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(id), CidrBlock: aws.String("10.200.0.0/24")})
			return err
		}},
		{"ec2 CreateSecurityGroup", vpc, "vpc-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: aws.String(id), GroupName: aws.String("probe"),
				Description: aws.String("probe")})
			return err
		}},
		{"ec2 CreateInstanceConnectEndpoint", subnet, "subnet-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: aws.String(id),
				SecurityGroupIds: []string{"sg-0000000000000000e"}})
			return err
		}},
		{"ec2 RegisterInstance", subnet, "subnet-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.Call(who, "RegisterInstance", map[string]string{"SubnetId": id, "PrivateIpAddress": "10.9.1.7"})
			return err
		}},
		{"ec2 RegisterInstance outside the subnet", subnet, "subnet-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.Call(who, "RegisterInstance", map[string]string{"SubnetId": id, "PrivateIpAddress": "10.200.0.7"})
			return err
		}},
		{"ec2 CreateTags", vpc, "vpc-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		}},
		{"ec2 DeleteTags", subnet, "subnet-0000000000000000f", func(who aws.Credentials, id string) error {
			_, err := e.EC2(who).DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			existing := answerOf(t, tc.call(nobody, tc.existing), tc.existing)
			other := answerOf(t, tc.call(nobody, tc.other), tc.other)
			if !strings.Contains(existing.code, "AccessDenied") && existing.code != "UnauthorizedOperation" {
				t.Errorf("existing: %+v, want an access denial", existing)
			}
			if existing != other {
				t.Errorf("the answers tell an existing resource from a missing one:\n existing %+v\n missing  %+v", existing, other)
			}
			// A caller allowed everything is told that the resource is
			// missing: authorizing first does not hide it from him.
			if a := answerOf(t, tc.call(e.Admin, tc.other), tc.other); !strings.Contains(a.code, "NotFound") && a.code != "NoSuchEntity" {
				t.Errorf("administrator, missing: %+v, want a NotFound", a)
			}
		})
	}
	// The tunnel is untouched, and its owner may still end it.
	if _, err := e.CallJSON(e.Admin, "TerminateTunnel", map[string]string{"TunnelId": l.Tunnels[0].TunnelId}); err != nil {
		t.Fatalf("terminate by the administrator: %v", err)
	}
	if _, err := e.CallJSON(e.Admin, "TerminateTunnel", map[string]string{"TunnelId": "tnl-00000000000000000"}); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("terminate an unknown tunnel by the administrator: %v", err)
	}
}

// An agent id does not name its endpoint: a caller allowed to revoke the
// agents of one endpoint is told the same about an agent of another
// endpoint as about an unknown agent, and may still revoke (here: a dry
// run) the agents of its own endpoint.
func TestRevokeAgentScopedNoOracle(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	_, _, other, _ := e.Network("10.9.0.0/16", "10.9.1.0/24")
	scoped := func(ep string) aws.Credentials {
		return e.NewUser("on-"+ep, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:RevokeEndpointAgent",
			"Resource":"arn:aws:ec2:*:*:instance-connect-endpoint/`+ep+`"}]}`)
	}
	onOther, onLocal := scoped(other), scoped(e.Server.Local.EndpointID)
	revoke := func(who aws.Credentials, id string, dry bool) error {
		p := map[string]string{"AgentId": id}
		if dry {
			p["DryRun"] = "true"
		}
		_, err := e.Call(who, "RevokeEndpointAgent", p)
		return err
	}
	const unknown = "eni-0000000000000000f"
	tests := []struct {
		name string
		who  aws.Credentials
	}{
		{"allowed on another endpoint", onOther},
		{"allowed on the agent's endpoint", onLocal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			missing := answerOf(t, revoke(tc.who, unknown, false), unknown)
			if missing.code != "UnauthorizedOperation" || !strings.Contains(missing.message, "instance-connect-endpoint/* ") {
				t.Errorf("unknown agent: %+v, want the denial on every endpoint", missing)
			}
			if tc.who == onOther {
				existing := answerOf(t, revoke(tc.who, e.Server.Local.AgentID, false), e.Server.Local.AgentID)
				if existing != missing {
					t.Errorf("the answers tell an agent of another endpoint from an unknown one:\n existing %+v\n missing  %+v", existing, missing)
				}
				return
			}
			err := revoke(tc.who, e.Server.Local.AgentID, true)
			if a := answerOf(t, err, e.Server.Local.AgentID); a.code != "DryRunOperation" {
				t.Errorf("dry run on its own endpoint's agent: %+v", a)
			}
		})
	}
}
