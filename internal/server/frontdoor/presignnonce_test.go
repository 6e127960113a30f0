package frontdoor_test

import (
	"context"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestUniqueURLsUnderSingleUse: under tunnel.replay: single-use, the AWS
// CLI's URL (client.PresignURL: signed to the second, no nonce) made twice
// in one second for one target is one URL, opened once and then refused
// as a replay; the URLs Postern's client makes once a server refused one as
// a replay (client.PresignUniqueURL: a signed random client.NonceParam;
// TestDialerLearnsUniqueURLs) made in the same second differ and each opens
// a tunnel, the server ignoring the parameter (it is in no record), while
// sending one of them again is still refused as a replay.
func TestUniqueURLsUnderSingleUse(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { allPorts(c); c.Tunnel.Replay = "single-use" }})
	ctx := context.Background()
	echo := tunneltest.Echo(t)
	target := e.Local(echo.Port)
	d := e.Dialer(e.Admin)
	now := time.Now() // every URL below is signed for this same second
	open := func(u string) error {
		tun, err := d.DialURL(ctx, u, e.DNSName())
		if err != nil {
			return err
		}
		defer tun.Close()
		if _, err := tun.Write([]byte("z")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(tun, b); err != nil || b[0] != 'z' {
			t.Fatalf("echo %q %v", b, err)
		}
		return nil
	}
	presign := func(f func(context.Context, aws.Credentials, string, client.Target, time.Time) (string, error)) string {
		u, err := f(ctx, aws.Credentials(e.Admin), e.Region, target, now)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	// The AWS CLI's form: the second URL is the first, refused.
	cli1, cli2 := presign(client.PresignURL), presign(client.PresignURL)
	if cli1 != cli2 {
		t.Fatalf("PresignURL made two URLs in one second:\n%s\n%s", cli1, cli2)
	}
	if err := open(cli1); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, open(cli2), 403, "AccessDeniedException", "once")

	// Postern's client: two URLs in the same second, each opens.
	u1, u2 := presign(client.PresignUniqueURL), presign(client.PresignUniqueURL)
	nonces := map[string]bool{}
	for _, u := range []string{u1, u2} {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		n := pu.Query().Get(client.NonceParam)
		if len(n) != 32 || nonces[n] {
			t.Fatalf("nonce %q in %s: want 32 hex digits, each URL its own", n, u)
		}
		nonces[n] = true
		if pu.Query().Get("X-Amz-Date") != strings.Split(strings.Split(cli1, "X-Amz-Date=")[1], "&")[0] {
			t.Fatalf("%s is not signed for the same second as %s", u, cli1)
		}
	}
	if err := open(u1); err != nil {
		t.Fatalf("the first unique URL: %v", err)
	}
	if err := open(u2); err != nil {
		t.Fatalf("a second unique URL in the same second: %v", err)
	}
	// The very same URL again is still a replay.
	wantRefusal(t, open(u1), 403, "AccessDeniedException", "once")

	evs := events(t, e, "OpenTunnel")
	opened := 0
	for _, ev := range evs {
		if ev.ErrorCode == "" {
			opened++
		}
		for n := range nonces {
			if strings.Contains(ev.Body, n) || strings.Contains(ev.Body, client.NonceParam) {
				t.Fatalf("the nonce is in an OpenTunnel record: %s", ev.Body)
			}
		}
	}
	if opened != 3 || len(evs) != 5 {
		t.Fatalf("%d OpenTunnel records, %d opened; want 5 and 3", len(evs), opened)
	}
}

// TestDialerLearnsUniqueURLs: Postern's client presigns the AWS CLI's URL
// (no nonce) until a server refuses one as used already (the refusal
// carries tunnelproto.HeaderReplay): then that open tries once more with
// a nonce, and the Dialer's later URLs carry one from the start. Under
// tunnel.replay: single-use, three opens of one target signed in the same
// second all open, with one replay refusal on record; under the default
// (source-ip) none is refused and no nonce is needed.
func TestDialerLearnsUniqueURLs(t *testing.T) {
	for _, tc := range []struct {
		replay      string
		wantRefused int
	}{
		{"single-use", 1},
		{"source-ip", 0},
	} {
		t.Run(tc.replay, func(t *testing.T) {
			e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { allPorts(c); c.Tunnel.Replay = tc.replay }})
			ctx := context.Background()
			echo := tunneltest.Echo(t)
			d := e.Dialer(e.Admin)
			now := time.Now()
			d.Now = func() time.Time { return now } // every URL signed for this second
			for i := range 3 {
				tun, err := d.Dial(ctx, e.Local(echo.Port))
				if err != nil {
					t.Fatalf("open %d: %v", i+1, err)
				}
				if err := tunneltest.RoundTrip(tun, []byte("z")); err != nil {
					t.Fatalf("open %d: %v", i+1, err)
				}
				tun.Close()
			}
			opened, refused := 0, 0
			for _, ev := range events(t, e, "OpenTunnel") {
				switch ev.ErrorCode {
				case "":
					opened++
				case "AccessDeniedException":
					refused++
				default:
					t.Errorf("an OpenTunnel record with errorCode %q", ev.ErrorCode)
				}
			}
			if opened != 3 || refused != tc.wantRefused {
				t.Fatalf("%d opened and %d refused OpenTunnel records, want 3 and %d", opened, refused, tc.wantRefused)
			}
		})
	}
}
