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
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestR3EveryExitOfAReDecidedTunnel: a tunnel re-decided at its listing
// (a counted change at the hook "listing": another user created, or its
// own key deactivated) ends through each exit an open has while that
// re-check runs or holds it (the hook "rechecked-at-listing" runs on the
// re-check's goroutine while the open waits for its verdict): its dial
// refused, TerminateTunnel, the front door's Shutdown, the client gone.
// Each leaves exactly one OpenTunnel and one CloseTunnel, paired by
// openEventId and openAgentId, no byte carried, and no deadlock between
// the open's wait and the front door's lock.
func TestR3EveryExitOfAReDecidedTunnel(t *testing.T) {
	ctx := context.Background()
	type env struct {
		e     *tunneltest.Env
		creds aws.Credentials
		tun   <-chan *client.Tunnel
		stop  chan<- error // Shutdown's answer
	}
	cases := []struct {
		name    string
		refused bool              // the target refuses the dial
		revoke  bool              // the change at the listing deactivates the tunnel's key
		held    func(e env) error // runs on the re-check's goroutine, the open waiting
		reasons []string          // CloseTunnel reasons allowed
		code    int               // the client's close code (0: not checked)
		// bytes: the tunnel may carry bytes (Shutdown, on a goroutine of
		// its own, may begin only once the tunnel opened).
		bytes bool
	}{
		{name: "dial refused", refused: true, reasons: []string{"ConnectionRefused"}, code: 1011},
		{name: "dial refused, key deactivated", refused: true, revoke: true, reasons: []string{"ConnectionRefused", "Revoked"}},
		{name: "key deactivated", revoke: true, reasons: []string{"Revoked"}, code: 1008},
		{name: "TerminateTunnel", held: func(e env) error {
			ts := e.e.Server.FrontDoor().Tunnels()
			if len(ts) != 1 {
				return errors.New("the re-decided tunnel is not listed")
			}
			_, err := e.e.CallJSON(e.e.Admin, "TerminateTunnel", map[string]string{"TunnelId": ts[0].TunnelID})
			return err
		}, reasons: []string{"Revoked"}, code: 1008},
		{name: "Shutdown", held: func(e env) error {
			// Shutdown waits for the open, which waits for this re-check:
			// it runs on, and the open ends at its listing, at its
			// Terminate, or (Shutdown begun once it opened) as open.
			go func() {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				e.stop <- e.e.Server.FrontDoor().Shutdown(sctx)
			}()
			return nil
		}, reasons: []string{tunnelproto.CodeServerStop}, code: 1001, bytes: true},
		{name: "client gone", held: func(e env) error {
			select {
			case tun := <-e.tun:
				return tun.Close()
			case <-time.After(10 * time.Second):
				return errors.New("the client's Dial did not return within 10 s of the 101")
			}
		}, reasons: []string{"ClientGone"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startAll(t)
			port := tunneltest.Echo(t).Port
			if tc.refused {
				port = closedPort(t)
			}
			creds := e.NewUser("dora", tunnelPolicy)
			ic := iam.NewFromConfig(e.AWS(e.Admin))
			tunc := make(chan *client.Tunnel, 1)
			stopped := make(chan error, 1)
			var listing, held sync.Once
			hookErr := make(chan error, 2)
			reDecided := make(chan struct{})
			frontdoor.QBSetHook(t, func(point string) {
				switch point {
				case "listing":
					listing.Do(func() {
						var err error
						if tc.revoke {
							_, err = ic.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("dora"),
								AccessKeyId: aws.String(creds.AccessKeyID), Status: iamtypes.StatusTypeInactive})
						} else {
							_, err = ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bystander")})
						}
						hookErr <- err
					})
				case "rechecked-at-listing":
					held.Do(func() {
						if tc.held != nil {
							hookErr <- tc.held(env{e: e, creds: creds, tun: tunc, stop: stopped})
						}
						close(reDecided)
					})
				}
			})
			tun, err := e.Dialer(creds).Dial(ctx, e.Local(port))
			must(t, err)
			defer tun.Close()
			tunc <- tun
			must(t, <-hookErr)
			select {
			case <-reDecided:
			case <-time.After(10 * time.Second):
				t.Fatal("the tunnel was not re-decided at its listing though a change was counted after its checks")
			}
			if tc.held != nil {
				must(t, <-hookErr)
			}
			if tc.name != "client gone" {
				_ = tun.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, _ = tun.Write([]byte("probe"))
				_, err = io.ReadFull(tun, make([]byte, 5))
				if err == nil && tc.bytes {
					// It opened (Shutdown begun once it did): it ends
					// as Shutdown closes it.
					_, err = io.Copy(io.Discard, tun)
				}
				var ce *client.ClosedError
				switch {
				case err == nil && !tc.bytes:
					t.Fatal("the tunnel carried bytes")
				case tc.code != 0 && (!errors.As(err, &ce) || ce.Code != tc.code):
					t.Errorf("the tunnel ended with %v; want close code %d", err, tc.code)
				}
			}
			if tc.name == "Shutdown" {
				if err := <-stopped; err != nil {
					t.Fatalf("Shutdown while a tunnel was re-decided at its listing: %v", err)
				}
			}
			d := r3Pair(t, e)
			if (!tc.bytes && (d.BytesIn != 0 || d.BytesOut != 0)) || !r3OneOf(d.Reason, tc.reasons) {
				t.Fatalf("CloseTunnel %+v; want no bytes, reason one of %v", d, tc.reasons)
			}
		})
	}
}

func r3OneOf(s string, in []string) bool {
	for _, x := range in {
		if strings.EqualFold(s, x) {
			return true
		}
	}
	return false
}
