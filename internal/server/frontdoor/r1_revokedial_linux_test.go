//go:build linux

package frontdoor_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestR1AccessRevokedDuringTheDial: access taken away while a tunnel's
// dial still runs (the target's accept queue is full: listenNoBacklog)
// ends that tunnel before its first byte, as the re-check ends an open
// one within a second (docs/security.md §8): its CloseTunnel says Revoked
// with no bytes, and the client gets 1008 with why. Before, the re-check
// saw only tunnels whose dial had answered: the change was seen (and
// counted as checked) while the tunnel dialled, and the tunnel then
// opened and carried bytes until the next change or the 30 s re-check.
// Whether the tunnel is the server's first (the re-check started only
// with the first tunnel whose dial answered) or another is open.
func TestR1AccessRevokedDuringTheDial(t *testing.T) {
	for _, beside := range []bool{false, true} {
		name := map[bool]string{false: "the server's first tunnel", true: "beside an open tunnel"}[beside]
		t.Run(name, func(t *testing.T) { testAccessRevokedDuringTheDial(t, beside) })
	}
}

func testAccessRevokedDuringTheDial(t *testing.T, beside bool) {
	e := startAll(t)
	ctx := context.Background()
	opens := 1
	if beside {
		echo := tunneltest.Echo(t)
		other, err := e.Dialer(e.Admin).Dial(ctx, e.Local(echo.Port))
		must(t, err)
		defer other.Close()
		opens++
	}

	ln, port := listenNoBacklog(t)
	filler, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	defer filler.Close()
	accepted := make(chan struct{}, 8)
	free := make(chan struct{})
	go func() {
		<-free
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	creds := e.NewUser("dora", tunnelPolicy)
	tun, err := e.Dialer(creds).Dial(ctx, e.Local(port)) // the 101 comes while the dial hangs
	must(t, err)
	defer tun.Close()
	e.WaitEvents(store.EventQuery{EventName: "OpenTunnel"}, 7*time.Second, func(evs []store.Event) bool { return len(evs) == opens })
	_, err = iam.NewFromConfig(e.AWS(e.Admin)).UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("dora"),
		AccessKeyId: aws.String(creds.AccessKeyID), Status: iamtypes.StatusTypeInactive})
	must(t, err)
	// The re-check sees the change (the tunnel's CloseTunnel commits)
	// before the target's queue has room again.
	seen := closedWithin(t, e, 1, 7*time.Second)
	close(free)
	<-accepted // the filler
	if !seen {
		// Show what the miss costs: the dial answers, the tunnel carries bytes.
		_ = tun.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := tun.Write([]byte("after")); err == nil {
			if _, err := io.ReadFull(tun, make([]byte, 5)); err == nil {
				t.Fatal("the tunnel opened after its access key was deactivated (no CloseTunnel within 7 s) and carried bytes")
			}
		}
		t.Fatal("no CloseTunnel within 7 s of the deactivation")
	}
	// Well under the 30 s re-check: the tunnel ends without waiting for it.
	_ = tun.SetReadDeadline(time.Now().Add(10 * time.Second))
	closedWith(t, tun, 1008, "deactivated")
	cl := e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, 7*time.Second, func(evs []store.Event) bool { return len(evs) == 1 })[0]
	if d := readClose(t, cl); d.Reason != "Revoked" || d.BytesIn != 0 || d.BytesOut != 0 {
		t.Fatalf("CloseTunnel %+v; want Revoked with no bytes", d)
	}
}

// closedWithin tells whether n CloseTunnel records are stored within
// timeout (woken by each audit commit, no polling).
func closedWithin(t *testing.T, e *tunneltest.Env, n int, timeout time.Duration) bool {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		committed := e.Server.AuditCommitted()
		if len(events(t, e, "CloseTunnel")) >= n {
			return true
		}
		select {
		case <-committed:
		case <-deadline.C:
			return false
		}
	}
}
