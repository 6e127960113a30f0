package frontdoor_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

const tunnelPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2-instance-connect:OpenTunnel","Resource":"*"}]}`

// Taking access away closes the open tunnels it allowed within a second,
// with a reason the client prints (AWS keeps them open up to an hour).
func TestRevocationClosesTunnels(t *testing.T) {
	ctx := context.Background()
	type setup struct {
		e     *tunneltest.Env
		creds aws.Credentials
		user  string
		iam   *iam.Client
	}
	triggers := []struct {
		name   string
		revoke func(t *testing.T, s setup)
		code   int
		reason string
	}{
		{"access key deactivated", func(t *testing.T, s setup) {
			_, err := s.iam.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(s.user), AccessKeyId: aws.String(s.creds.AccessKeyID), Status: iamtypes.StatusTypeInactive})
			must(t, err)
		}, 1008, "access key was deactivated"},
		{"access key deleted", func(t *testing.T, s setup) {
			_, err := s.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(s.user), AccessKeyId: aws.String(s.creds.AccessKeyID)})
			must(t, err)
		}, 1008, "access key was deleted"},
		{"user deleted", func(t *testing.T, s setup) {
			// AWS refuses to delete a user with keys or policies: remove them,
			// then the user; the tunnel is gone from the first step.
			_, err := s.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(s.user), PolicyName: aws.String("p")})
			must(t, err)
			_, err = s.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(s.user), AccessKeyId: aws.String(s.creds.AccessKeyID)})
			must(t, err)
			_, err = s.iam.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String(s.user)})
			must(t, err)
		}, 1008, "Access was revoked"},
		{"policy removed", func(t *testing.T, s setup) {
			_, err := s.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(s.user), PolicyName: aws.String("p")})
			must(t, err)
		}, 1008, "no longer allows"},
		{"policy changed", func(t *testing.T, s setup) {
			_, err := s.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(s.user), PolicyName: aws.String("p"),
				PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2-instance-connect:OpenTunnel","Resource":"*",
					"Condition":{"NumericEquals":{"ec2-instance-connect:remotePort":"3389"}}}]}`)})
			must(t, err)
		}, 1008, "no longer allows"},
		{"managed policy detached", func(t *testing.T, s setup) {
			out, err := s.iam.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(s.user)})
			must(t, err)
			for _, p := range out.AttachedPolicies {
				_, err := s.iam.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String(s.user), PolicyArn: p.PolicyArn})
				must(t, err)
			}
			_, err = s.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(s.user), PolicyName: aws.String("p")})
			must(t, err)
		}, 1008, "no longer allows"},
		{"endpoint deleted", func(t *testing.T, s setup) {
			_, err := s.e.EC2(s.e.Admin).DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: aws.String(s.e.Server.Local.EndpointID)})
			must(t, err)
		}, 1008, "endpoint was deleted"},
		{"agent revoked", func(t *testing.T, s setup) {
			_, err := s.e.Call(s.e.Admin, "RevokeEndpointAgent", map[string]string{"AgentId": s.e.Server.Local.AgentID})
			must(t, err)
		}, 1008, "revoked"},
	}
	for _, tc := range triggers {
		t.Run(tc.name, func(t *testing.T) {
			e := startAll(t)
			echo := tunneltest.Echo(t)
			user := "dev"
			creds := e.NewUser(user, tunnelPolicy)
			ic := iam.NewFromConfig(e.AWS(e.Admin))
			if tc.name == "managed policy detached" {
				p, err := ic.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("tunnels"), PolicyDocument: aws.String(tunnelPolicy)})
				must(t, err)
				_, err = ic.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String(user), PolicyArn: p.Policy.Arn})
				must(t, err)
			}
			tun, err := e.Dialer(creds).Dial(ctx, e.Local(echo.Port))
			must(t, err)
			defer tun.Close()
			roundTrip(t, tun, "before")
			end := tunneltest.WatchEnd(tun)
			start := time.Now()
			tc.revoke(t, setup{e: e, creds: creds, user: user, iam: ic})
			end.Within(t, start, time.Second, tc.code, tc.reason)
			if reason, _ := lastClose(t, e); reason != "Revoked" {
				t.Errorf("close record reason %q", reason)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// With tunnel.end_on_session_expiry, a tunnel opened by a role session
// ends when the session expires (time is moved on by an injected clock).
func TestSessionExpiryEndsTunnel(t *testing.T) {
	var offset atomic.Int64
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		allPorts(c)
		c.Tunnel.EndOnSessionExpiry = true
		c.TunnelClock = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	}})
	ctx := context.Background()
	echo := tunneltest.Echo(t)
	acct, err := sts.NewFromConfig(e.AWS(e.Admin)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	must(t, err)
	ic := iam.NewFromConfig(e.AWS(e.Admin))
	_, err = ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + aws.ToString(acct.Account) + `:root"},"Action":"sts:AssumeRole"}]}`)})
	must(t, err)
	_, err = ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("p"), PolicyDocument: aws.String(tunnelPolicy)})
	must(t, err)
	out, err := sts.NewFromConfig(e.AWS(e.Admin)).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + aws.ToString(acct.Account) + ":role/ops"),
		RoleSessionName: aws.String("short"), DurationSeconds: aws.Int32(900)})
	must(t, err)
	creds := aws.Credentials{AccessKeyID: aws.ToString(out.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken: aws.ToString(out.Credentials.SessionToken)}
	tun, err := e.Dialer(creds).Dial(ctx, e.Local(echo.Port))
	must(t, err)
	defer tun.Close()
	roundTrip(t, tun, "while the session lasts")
	end := tunneltest.WatchEnd(tun)
	offset.Store(int64(16 * time.Minute)) // past the session's 15 minutes
	end.Within(t, time.Now(), time.Second, 1008, "session")
}
