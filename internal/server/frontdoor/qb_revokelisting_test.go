package frontdoor_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/frontdoor"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/wsframe"
)

// TestQBRevokedBetweenTheChecksAndTheListing: an access key deactivated
// after an open's checks read it and before its tunnel is listed (the
// test hook "listing" runs the deactivation at that exact point, through
// the SDK) ends that tunnel before its first byte: the client gets 1008
// naming why, the CloseTunnel says Revoked with no bytes. Before, the
// re-check (revalidate) could see the change before the tunnel was
// listed, and so without it: the tunnel then opened and carried bytes
// until the next change or the 30 s re-check. For the server's first
// tunnel that was certain (revalidate starts with it, its watch after
// the change); beside an open tunnel the hook holds the open until
// revalidate re-checked. With no change in that window, nothing is
// re-decided at the listing (no cost for an ordinary open).
func TestQBRevokedBetweenTheChecksAndTheListing(t *testing.T) {
	for _, tc := range []struct {
		name           string
		beside, revoke bool
	}{
		{"the server's first tunnel", false, true},
		{"beside an open tunnel, revalidate ran in between", true, true},
		{"no change in between", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) { testQBRevokedAtListing(t, tc.beside, tc.revoke) })
	}
}

func testQBRevokedAtListing(t *testing.T, beside, revoke bool) {
	e := startAll(t)
	ctx := context.Background()
	echo := tunneltest.Echo(t)
	if beside {
		other, err := e.Dialer(e.Admin).Dial(ctx, e.Local(echo.Port))
		must(t, err)
		defer other.Close()
		must(t, tunneltest.RoundTrip(other, []byte("open")))
	}
	creds := e.NewUser("dora", tunnelPolicy)

	var once sync.Once
	var reDecided, recheckSaw atomic.Bool
	// keyInactive: the deactivation is committed (the SDK's answer may
	// come later: a re-check that a change counted before it reached
	// the test must count as after the deactivation, or the wait below
	// misses it under load and no other change starts another).
	keyInactive := func() bool {
		k, err := e.Server.Store.GetAccessKey(context.Background(), creds.AccessKeyID)
		return err == nil && k.Status == store.KeyInactive
	}
	rechecking := make(chan struct{}, 1) // a re-check began after the deactivation
	rechecked := make(chan struct{}, 1)
	hookErr := make(chan error, 1)
	frontdoor.QBSetHook(t, func(point string) {
		switch point {
		case "listing":
			once.Do(func() {
				if !revoke {
					hookErr <- nil
					return
				}
				_, err := iam.NewFromConfig(e.AWS(e.Admin)).UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("dora"),
					AccessKeyId: aws.String(creds.AccessKeyID), Status: iamtypes.StatusTypeInactive})
				if err == nil && beside {
					// Hold the open until revalidate re-checked the listed
					// tunnels, seeing the change without this one.
					select {
					case <-rechecking:
						<-rechecked
					case <-time.After(10 * time.Second):
						err = errors.New("revalidate did not re-check within 10 s of the deactivation")
					}
				}
				hookErr <- err
			})
		case "recheck":
			if revoke && keyInactive() {
				recheckSaw.Store(true)
				select {
				case rechecking <- struct{}{}:
				default:
				}
			}
		case "rechecked":
			if recheckSaw.Load() {
				select {
				case rechecked <- struct{}{}:
				default:
				}
			}
		case "rechecked-at-listing":
			reDecided.Store(true)
		}
	})

	tun, err := e.Dialer(creds).Dial(ctx, e.Local(echo.Port))
	must(t, err)
	defer tun.Close()
	must(t, <-hookErr)
	_ = tun.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = tun.Write([]byte("probe"))
	_, err = io.ReadFull(tun, make([]byte, 5))
	if !revoke {
		if err != nil {
			t.Fatalf("the tunnel, nothing changed: %v", err)
		}
		if reDecided.Load() {
			t.Fatal("the tunnel was re-decided at its listing though nothing changed since its checks")
		}
		return
	}
	if err == nil {
		t.Fatal("the tunnel opened and carried bytes after its access key was deactivated between its checks and its listing")
	}
	var ce *client.ClosedError
	if !errors.As(err, &ce) || ce.Code != wsframe.ClosePolicyViolation || !strings.Contains(ce.Reason, "deactivated") {
		t.Fatalf("the tunnel ended with %v; want a close 1008 naming the deactivation", err)
	}
	cl := e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, 10*time.Second, func(evs []store.Event) bool { return len(evs) == 1 })[0]
	if d := readClose(t, cl); d.Reason != "Revoked" || d.BytesIn != 0 || d.BytesOut != 0 || !strings.Contains(d.Message, "deactivated") {
		t.Fatalf("CloseTunnel %+v; want Revoked, no bytes, naming the deactivation", d)
	}
}
