package frontdoor_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/postern/postern/internal/server/iamapi"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// A tunnel opened with a user's console session (iamapi.IssueUserSession,
// as the console's sign-in makes) lives through revocation re-checks and
// ends when the session is signed out (the session record deleted), with
// that reason.
func TestConsoleSessionTunnel(t *testing.T) {
	ctx := context.Background()
	e := startAll(t)
	echo := tunneltest.Echo(t)
	e.NewUser("dev", tunnelPolicy)
	cfg := iamapi.Config{Store: e.Server.Store, Sealer: e.Server.Sealer, AccountID: e.Server.AccountID}
	r, err := iamapi.IssueUserSession(ctx, cfg, "dev", "192.0.2.1", time.Hour)
	must(t, err)
	creds := aws.Credentials{AccessKeyID: r.AccessKeyID, SecretAccessKey: r.SecretAccessKey, SessionToken: r.SessionToken}
	tun, err := e.Dialer(creds).Dial(ctx, e.Local(echo.Port))
	must(t, err)
	defer tun.Close()
	roundTrip(t, tun, "before")
	// A change re-checks every tunnel; this one's credential still holds.
	_, err = iam.NewFromConfig(e.AWS(e.Admin)).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("other")})
	must(t, err)
	roundTrip(t, tun, "after a re-check")
	end := tunneltest.WatchEnd(tun)
	start := time.Now()
	must(t, e.Server.Store.DeleteSession(ctx, r.AccessKeyID))
	end.Within(t, start, time.Second, 1008, "console session was signed out")
}
