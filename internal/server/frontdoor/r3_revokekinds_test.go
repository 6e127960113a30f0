package frontdoor_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/frontdoor"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// r3Pair reads the tunnel's one OpenTunnel and one CloseTunnel and checks
// that they pair: the close names the open's event and agent
// (openAgentId equal to OpenTunnel's agentId).
func r3Pair(t *testing.T, e *tunneltest.Env) closeDetails {
	t.Helper()
	cl := e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, 10*time.Second, func(evs []store.Event) bool { return len(evs) >= 1 })
	op := events(t, e, "OpenTunnel")
	cl = events(t, e, "CloseTunnel")
	if len(op) != 1 || len(cl) != 1 {
		t.Fatalf("%d OpenTunnel and %d CloseTunnel records; want one of each", len(op), len(cl))
	}
	var rec struct {
		D struct {
			OpenAgentID string `json:"openAgentId"`
		} `json:"serviceEventDetails"`
	}
	must(t, json.Unmarshal([]byte(cl[0].Body), &rec))
	d := readClose(t, cl[0])
	if a := openAgent(t, op[0]); a == "" || rec.D.OpenAgentID != a || d.OpenEventID != op[0].EventID {
		t.Fatalf("CloseTunnel openAgentId %q openEventId %q; OpenTunnel agentId %q event %q", rec.D.OpenAgentID, d.OpenEventID, a, op[0].EventID)
	}
	return d
}

// TestR3EveryRevocationBetweenTheChecksAndTheListing: each kind of
// revocation the 30 s re-check catches (docs/security.md §8), made at the
// test hook "listing" (after the open's checks, before its tunnel is
// listed; the server's first tunnel, so that revalidate starts after the
// change and only the re-check at the listing can see it), ends the
// tunnel before its first byte: no byte echoed, one OpenTunnel and one
// CloseTunnel (Revoked, no bytes, openAgentId naming OpenTunnel's agent).
func TestR3EveryRevocationBetweenTheChecksAndTheListing(t *testing.T) {
	ctx := context.Background()
	type env struct {
		e    *tunneltest.Env
		iam  *iam.Client
		user aws.Credentials
	}
	deleteUserPolicy := func(e env) error {
		_, err := e.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("dora"), PolicyName: aws.String("p")})
		return err
	}
	cases := []struct {
		name   string
		role   bool // the tunnel is opened by a session of role ops
		revoke func(e env) error
		reason string // in the close's message
	}{
		{"access key deleted", false, func(e env) error {
			_, err := e.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("dora"), AccessKeyId: aws.String(e.user.AccessKeyID)})
			return err
		}, "access key was deleted"},
		{"user policy removed", false, deleteUserPolicy, "no longer allows"},
		{"explicit deny added", false, func(e env) error {
			_, err := e.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dora"), PolicyName: aws.String("deny"),
				PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2-instance-connect:OpenTunnel","Resource":"*"}]}`)})
			return err
		}, "no longer allows"},
		{"endpoint deleted", false, func(e env) error {
			_, err := e.e.EC2(e.e.Admin).DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: aws.String(e.e.Server.Local.EndpointID)})
			return err
		}, "endpoint was deleted"},
		{"agent revoked", false, func(e env) error {
			_, err := e.e.Call(e.e.Admin, "RevokeEndpointAgent", map[string]string{"AgentId": e.e.Server.Local.AgentID})
			return err
		}, "revoked"},
		{"role policy removed", true, func(e env) error {
			_, err := e.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(identityName), PolicyName: aws.String("p")})
			return err
		}, "no longer allows"},
		{"role deleted", true, func(e env) error {
			if _, err := e.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(identityName), PolicyName: aws.String("p")}); err != nil {
				return err
			}
			_, err := e.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(identityName)})
			return err
		}, "Access was revoked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startAll(t)
			echo := tunneltest.Echo(t)
			ic := iam.NewFromConfig(e.AWS(e.Admin))
			var creds aws.Credentials
			if tc.role {
				acct, err := sts.NewFromConfig(e.AWS(e.Admin)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				must(t, err)
				creds = roleSession(t, e, aws.ToString(acct.Account))
			} else {
				creds = e.NewUser("dora", tunnelPolicy)
			}
			var once sync.Once
			hookErr := make(chan error, 1)
			frontdoor.QBSetHook(t, func(point string) {
				if point == "listing" {
					once.Do(func() { hookErr <- tc.revoke(env{e: e, iam: ic, user: creds}) })
				}
			})
			tun, err := e.Dialer(creds).Dial(ctx, e.Local(echo.Port))
			must(t, err)
			defer tun.Close()
			must(t, <-hookErr)
			_ = tun.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _ = tun.Write([]byte("probe"))
			if _, err := io.ReadFull(tun, make([]byte, 5)); err == nil {
				t.Fatalf("the tunnel carried bytes after %s between its checks and its listing", tc.name)
			} else if ce := (*client.ClosedError)(nil); !errors.As(err, &ce) || ce.Code != 1008 || !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("the tunnel ended with %v; want 1008 naming %q", err, tc.reason)
			}
			if d := r3Pair(t, e); d.Reason != "Revoked" || d.BytesIn != 0 || d.BytesOut != 0 || !strings.Contains(d.Message, tc.reason) {
				t.Fatalf("CloseTunnel %+v; want Revoked, no bytes, naming %q", d, tc.reason)
			}
		})
	}
}
