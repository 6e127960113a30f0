package frontdoor_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/postern/postern/internal/server/frontdoor"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestR3OpensWhileTheStoreChangesConstantly: opens (four at a time) while
// IAM writes run without pause (a bounded loop), and each open's checks
// followed by a counted write at its listing (so that every one of them
// is re-decided): every open is re-decided exactly once (not once per
// change), none is refused for it, every tunnel carries bytes, and the
// trail holds one OpenTunnel and one CloseTunnel per tunnel.
func TestR3OpensWhileTheStoreChangesConstantly(t *testing.T) {
	const opens, parallel, writes = 24, 4, 200
	ctx := context.Background()
	e := startAll(t)
	echo := tunneltest.Echo(t)
	ic := iam.NewFromConfig(e.AWS(e.Admin))
	_, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bystander")})
	must(t, err)
	change := func(i int) error {
		_, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("bystander"), PolicyName: aws.String("p" + strconv.Itoa(i%4)),
			PolicyDocument: aws.String(tunnelPolicy)})
		return err
	}
	var listings, reDecided, n atomic.Int64
	hookErrs := make(chan error, opens)
	frontdoor.QBSetHook(t, func(point string) {
		switch point {
		case "listing":
			listings.Add(1)
			if err := change(int(n.Add(1))); err != nil {
				hookErrs <- err
			}
		case "rechecked-at-listing":
			reDecided.Add(1)
		}
	})
	stop := make(chan struct{})
	writer := make(chan error, 1)
	go func() {
		for i := 0; i < writes; i++ { // bounded
			select {
			case <-stop:
				writer <- nil
				return
			default:
			}
			if err := change(i); err != nil {
				writer <- err
				return
			}
		}
		writer <- nil
	}()
	var wg sync.WaitGroup
	errs := make(chan error, opens)
	sem := make(chan struct{}, parallel)
	for i := 0; i < opens; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(echo.Port))
			if err != nil {
				errs <- err
				return
			}
			defer tun.Close()
			_ = tun.SetReadDeadline(time.Now().Add(10 * time.Second))
			if err := tunneltest.RoundTrip(tun, []byte("flood "+strconv.Itoa(i))); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(stop)
	must(t, <-writer)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	close(hookErrs)
	for err := range hookErrs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if l, r := listings.Load(), reDecided.Load(); l != opens || r != opens {
		t.Fatalf("%d listings, %d re-decisions at the listing; want %d of each (one per open)", l, r, opens)
	}
	e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, 10*time.Second, func(evs []store.Event) bool { return len(evs) == opens })
	if op, cl := events(t, e, "OpenTunnel"), events(t, e, "CloseTunnel"); len(op) != opens || len(cl) != opens {
		t.Fatalf("%d OpenTunnel, %d CloseTunnel records; want %d of each", len(op), len(cl), opens)
	}
}
