//go:build linux

package frontdoor_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/postern/postern/internal/server/frontdoor"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestR3UnrecordedWhileReDecided: an open re-decided at its listing (a
// counted change at the hook "listing", a revocation or not) whose
// OpenTunnel record cannot be committed (refuseOpenTunnelRecords) closes
// 1011 "could not be recorded" and leaves no OpenTunnel and no
// CloseTunnel, whatever the re-decision said: a close is recorded only
// for an open that was.
func TestR3UnrecordedWhileReDecided(t *testing.T) {
	for _, revoke := range []bool{false, true} {
		t.Run(map[bool]string{false: "allowed", true: "key deactivated"}[revoke], func(t *testing.T) {
			ctx := context.Background()
			e := startAll(t)
			echo := tunneltest.Echo(t)
			creds := e.NewUser("dora", tunnelPolicy)
			ic := iam.NewFromConfig(e.AWS(e.Admin))
			refuseOpenTunnelRecords(t, e)
			var once, done sync.Once
			hookErr := make(chan error, 1)
			reDecided := make(chan struct{})
			frontdoor.QBSetHook(t, func(point string) {
				switch point {
				case "listing":
					once.Do(func() {
						var err error
						if revoke {
							_, err = ic.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("dora"),
								AccessKeyId: aws.String(creds.AccessKeyID), Status: iamtypes.StatusTypeInactive})
						} else {
							_, err = ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bystander")})
						}
						hookErr <- err
					})
				case "rechecked-at-listing":
					done.Do(func() { close(reDecided) })
				}
			})
			tun, err := e.Dialer(creds).Dial(ctx, e.Local(echo.Port))
			must(t, err)
			defer tun.Close()
			must(t, <-hookErr)
			_ = tun.SetReadDeadline(time.Now().Add(10 * time.Second))
			closedWith(t, tun, 1011, "could not be recorded")
			select {
			case <-reDecided:
			case <-time.After(10 * time.Second):
				t.Fatal("the open was not re-decided at its listing though a change was counted after its checks")
			}
			if op, cl := events(t, e, "OpenTunnel"), events(t, e, "CloseTunnel"); len(op) != 0 || len(cl) != 0 {
				t.Fatalf("%d OpenTunnel, %d CloseTunnel records of an open whose record failed; want none", len(op), len(cl))
			}
		})
	}
}
