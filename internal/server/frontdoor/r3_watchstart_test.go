package frontdoor_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
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

// TestR3RevokedBeforeTheRecheckWatchStarts: the server's first tunnel
// starts the re-check (revalidate); its access key deactivated after the
// open read the change count again at its listing (hook "listed":
// nothing counted since its checks) but before the re-check's goroutine
// began to watch the count (hook "revalidate", held until then) is seen
// by the re-check, which ends the tunnel within a second or so, 1008
// naming the deactivation, one OpenTunnel and one CloseTunnel (Revoked).
// Before, the watch started on that goroutine, after the change: it took
// the changed count for its start and never saw the change, and the
// listing's read had not either; the tunnel carried bytes until the
// 30 s re-check (here: still open at the 10 s read deadline).
func TestR3RevokedBeforeTheRecheckWatchStarts(t *testing.T) {
	ctx := context.Background()
	e := startAll(t)
	echo := tunneltest.Echo(t)
	creds := e.NewUser("dora", tunnelPolicy)
	ic := iam.NewFromConfig(e.AWS(e.Admin))
	listed := make(chan struct{})
	var once, start sync.Once
	hookErr := make(chan error, 1)
	frontdoor.QBSetHook(t, func(point string) {
		switch point {
		case "listed":
			once.Do(func() { close(listed) })
		case "revalidate":
			start.Do(func() {
				select {
				case <-listed:
				case <-time.After(10 * time.Second):
					hookErr <- errors.New("the tunnel was not listed within 10 s of the re-check's start")
					return
				}
				_, err := ic.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("dora"),
					AccessKeyId: aws.String(creds.AccessKeyID), Status: iamtypes.StatusTypeInactive})
				hookErr <- err
			})
		}
	})
	tun, err := e.Dialer(creds).Dial(ctx, e.Local(echo.Port))
	must(t, err)
	defer tun.Close()
	must(t, <-hookErr)
	// The tunnel may carry bytes before the re-check ends it (the change
	// came after its listing); it must end well before the 30 s re-check.
	_ = tun.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, tun)
	var ce *client.ClosedError
	if !errors.As(err, &ce) || ce.Code != wsframe.ClosePolicyViolation || !strings.Contains(ce.Reason, "deactivated") {
		t.Fatalf("the tunnel ended with %v; want 1008 naming the deactivation, well before the 30 s re-check", err)
	}
	e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, 10*time.Second, func(evs []store.Event) bool { return len(evs) == 1 })
	if d := r3Pair(t, e); d.Reason != "Revoked" || !strings.Contains(d.Message, "deactivated") {
		t.Fatalf("CloseTunnel %+v; want Revoked naming the deactivation", d)
	}
}
