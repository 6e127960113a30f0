package frontdoor_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/postern/postern/internal/client"
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
			ended := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, tun)
				ended <- err
			}()
			start := time.Now()
			tc.revoke(t, setup{e: e, creds: creds, user: user, iam: ic})
			var err2 error
			select {
			case err2 = <-ended:
			case <-time.After(5 * time.Second):
				t.Fatal("the tunnel stayed open after its access was revoked")
			}
			took := time.Since(start)
			var ce *client.ClosedError
			if !errors.As(err2, &ce) || ce.Code != tc.code || !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("closed with %v, want %d and %q", err2, tc.code, tc.reason)
			}
			if took > time.Second {
				t.Fatalf("closed %v after the revocation, want within 1 s", took)
			}
			t.Logf("closed %v after the revocation: %s", took.Round(time.Millisecond), ce.Reason)
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
