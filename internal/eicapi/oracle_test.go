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
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/postern/postern/internal/config"
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
	ec2c := e.EC2(nobody)

	cases := []struct {
		name            string
		existing, other string
		call            func(id string) error
	}{
		{"TerminateTunnel", l.Tunnels[0].TunnelId, "tnl-00000000000000000", func(id string) error {
			_, err := e.CallJSON(nobody, "TerminateTunnel", map[string]string{"TunnelId": id})
			return err
		}},
		{"SendSSHPublicKey", e.Server.Local.InstanceID, "i-0000000000000000f", func(id string) error {
			_, err := eic(e, nobody).SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(id),
				InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(line)})
			return err
		}},
		// The name in another case than created, and a path: neither may
		// show through the denial.
		{"iam GetUser", "ADMIN", "NOSUCHUSER", func(id string) error {
			_, err := iam.NewFromConfig(e.AWS(nobody)).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(id)})
			return err
		}},
		{"iam GetRole", "svc", "nosuchrole", func(id string) error {
			_, err := iam.NewFromConfig(e.AWS(nobody)).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(id)})
			return err
		}},
		{"iam ListUserPolicies", "ADMIN", "NOSUCHUSER", func(id string) error {
			_, err := iam.NewFromConfig(e.AWS(nobody)).ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String(id)})
			return err
		}},
		// EC2: the ARN is built from the id alone.
		{"ec2 DeleteVpc", vpc, "vpc-0000000000000000f", func(id string) error {
			_, err := ec2c.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(id)})
			return err
		}},
		{"ec2 DeleteSubnet", subnet, "subnet-0000000000000000f", func(id string) error {
			_, err := ec2c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(id)})
			return err
		}},
		{"ec2 DeleteSecurityGroup", group, "sg-0000000000000000f", func(id string) error {
			_, err := ec2c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
			return err
		}},
		{"ec2 AuthorizeSecurityGroupIngress", group, "sg-0000000000000000f", func(id string) error {
			_, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id),
				IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIp: aws.String("10.0.0.0/8")})
			return err
		}},
		{"ec2 ModifyInstanceAttribute", e.Server.Local.InstanceID, "i-0000000000000000f", func(id string) error {
			_, err := ec2c.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id), Groups: []string{group}})
			return err
		}},
		{"ec2 DeregisterInstance", e.Server.Local.InstanceID, "i-0000000000000000f", func(id string) error {
			_, err := e.Call(nobody, "DeregisterInstance", map[string]string{"InstanceId": id})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			existing := answerOf(t, tc.call(tc.existing), tc.existing)
			other := answerOf(t, tc.call(tc.other), tc.other)
			if !strings.Contains(existing.code, "AccessDenied") && existing.code != "UnauthorizedOperation" {
				t.Errorf("existing: %+v, want an access denial", existing)
			}
			if existing != other {
				t.Errorf("the answers tell an existing resource from a missing one:\n existing %+v\n missing  %+v", existing, other)
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
