package client

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestR1URLCacheIsPresignURL: whatever order opens of one Dialer come in,
// concurrently or after the clock stepped back, the URL the cache gives
// is the one PresignURL makes for the same inputs at that moment: a
// rotated session token (same key id and secret), another region, any
// field of the target (port, address, endpoint, DNS name, maximum
// duration) or another second is never answered with another's URL. Run
// with -race: the cache is shared by the Dialer's opens.
func TestR1URLCacheIsPresignURL(t *testing.T) {
	ctx := context.Background()
	// An access key id of its own: the SDK's signer keeps a derived key
	// per key id and day whatever the secret (presigncache_internal_test).
	base := aws.Credentials{AccessKeyID: "AKIDR1CACHE0001", SecretAccessKey: "r1-secret", SessionToken: "token-1"}
	rotated := base
	rotated.SessionToken = "token-2"
	noToken := base
	noToken.SessionToken = ""
	tg := Target{InstanceID: "i-0123456789abcdef0", EndpointID: "eice-0123456789abcdef0", DNSName: "eice.example.com",
		PrivateIP: "10.0.0.5", RemotePort: 22}
	targets := []Target{tg}
	for _, change := range []func(*Target){
		func(t *Target) { t.RemotePort = 2222 },
		func(t *Target) { t.PrivateIP = "10.0.0.6" },
		func(t *Target) { t.EndpointID = "eice-0fedcba9876543210" },
		func(t *Target) { t.DNSName = "eice.example.com:8443" },
		func(t *Target) { t.MaxTunnelDuration = 600 },
		func(t *Target) { t.InstanceID = "i-0fedcba9876543210" }, // not in the URL: same bytes either way
	} {
		o := tg
		change(&o)
		targets = append(targets, o)
	}
	t0 := time.Date(2026, 12, 6, 23, 30, 7, 0, time.UTC)
	type input struct {
		creds  aws.Credentials
		region string
		target Target
		now    time.Time
	}
	var inputs []input
	for _, c := range []aws.Credentials{base, rotated, noToken} {
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			for _, target := range targets {
				// The second after, then the clock stepped back.
				for _, now := range []time.Time{t0.Add(300 * time.Millisecond), t0.Add(1200 * time.Millisecond), t0.Add(999 * time.Millisecond)} {
					inputs = append(inputs, input{c, region, target, now})
				}
			}
		}
	}
	want := make([]string, len(inputs))
	for i, in := range inputs {
		u, err := PresignURL(ctx, in.creds, in.region, in.target, in.now)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = u
	}

	t.Run("sequential", func(t *testing.T) {
		var c urlCache
		for round := range 2 {
			for i, in := range inputs {
				u, err := c.get(ctx, in.creds, in.region, in.target, in.now)
				if err != nil {
					t.Fatal(err)
				}
				if u != want[i] {
					t.Fatalf("round %d, input %d (token %q, %s, %+v, %s): got another input's URL", round, i,
						in.creds.SessionToken, in.region, in.target, in.now.Format(time.RFC3339Nano))
				}
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var c urlCache
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range 3 * len(inputs) {
					i := (k*(g+1) + g) % len(inputs) // each goroutine its own order
					in := inputs[i]
					u, err := c.get(ctx, in.creds, in.region, in.target, in.now)
					if err == nil && u != want[i] {
						err = fmt.Errorf("input %d (token %q, %s, %+v, %s): got another input's URL", i,
							in.creds.SessionToken, in.region, in.target, in.now.Format(time.RFC3339Nano))
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
