//go:build linux

package frontdoor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestClientGoneWhileTheRecordCommits: a client that leaves after its 101
// while the attempt's OpenTunnel record still commits (the database's
// write lock is held by the test) and whose dial has answered already is
// closed on record as one that left before its tunnel opened (CloseTunnel
// ClientGone, "before the tunnel opened", no byte either way), as when it
// leaves during the dial: the server looks once, without a watching
// goroutine, once the record committed. The URL is one the replay guard
// has seen from this address, so that the 101 needs no commit.
func TestClientGoneWhileTheRecordCommits(t *testing.T) {
	e := startAll(t)
	ctx := context.Background()
	target := startWatchedTarget(t, func() int { return successfulOpens(t, e) })
	d := e.Dialer(e.Admin)
	u, err := client.PresignURL(ctx, aws.Credentials(e.Admin), e.Region, e.Local(target.port), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The URL's first use: the guard records it; the tunnel carries a byte.
	first, err := d.DialURL(ctx, u, e.DNSName())
	if err != nil {
		t.Fatal(err)
	}
	if err := tunneltest.RoundTrip(first, []byte("x")); err != nil {
		t.Fatal(err)
	}
	first.Close()
	waitOrFail(t, target.accepted, "the first tunnel's dial")
	waitOrFail(t, target.first, "the first tunnel's bytes")
	waitEvent(t, e, "CloseTunnel", 1)

	lock := lockDB(t, e)
	tun, err := d.DialURL(ctx, u, e.DNSName()) // the 101: the guard answers from memory
	if err != nil {
		t.Fatalf("the URL's second use from the same address: %v", err)
	}
	waitOrFail(t, target.accepted, "the second tunnel's dial while its record waits for the lock")
	tun.Close() // the client leaves while its record still waits
	lock.release()

	evs := waitEvent(t, e, "CloseTunnel", 2)
	var got closeDetails
	for _, ev := range evs {
		if c := readClose(t, ev); c.BytesIn == 0 && c.BytesOut == 0 {
			got = c
		}
	}
	if got.Reason != "ClientGone" || !strings.Contains(got.Message, "before the tunnel opened") || got.CloseCode != 0 {
		t.Fatalf("the second tunnel's CloseTunnel %+v, want ClientGone before the tunnel opened, code 0, no bytes", got)
	}
	if fr := waitOrFail(t, target.first, "the end of the second tunnel's target connection"); fr.n != 0 {
		t.Fatalf("the target read %+v from a client that had left", fr)
	}
	if n := successfulOpens(t, e); n != 2 {
		t.Fatalf("%d successful OpenTunnel records, want 2 (each attempt opened on record)", n)
	}
	if j := journalled(t, e); len(j) != 0 {
		t.Fatalf("journal of open tunnels %v, want none", j)
	}
}
