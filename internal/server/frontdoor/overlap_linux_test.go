//go:build linux

package frontdoor_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/postern/postern/internal/client"
)

// TestDialOverlapsTheCommitNoByteBeforeTheRecord: the 101 waits neither
// for the agent's dial nor for the attempt's record, yet no byte flows in
// either direction before the record is committed. The target's accept
// queue is full (listenNoBacklog: the agent's SYNs are dropped), so the
// dial hangs while the client gets its 101; then the test holds the
// SQLite database's write lock and lets the dial through. The record
// commits while the dial runs (TestRecordCommitsWhileTheDialRuns), so it
// may be on disk before the lock or wait for it: either way the target's
// banner reaches the client and the client's byte reaches the target only
// with the record on disk. (Linux: the full accept queue is how the dial
// is held.)
func TestDialOverlapsTheCommitNoByteBeforeTheRecord(t *testing.T) {
	e := startAll(t)
	ctx := context.Background()
	const banner = "SSH-2.0-target\r\n"
	recorded := func() int { return successfulOpens(t, e) }
	ln, port := listenNoBacklog(t)
	filler, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()
	d := e.Dialer(e.Admin)
	before := successfulOpens(t, e)

	type dialed struct {
		tun *client.Tunnel
		err error
	}
	opened := make(chan dialed, 1)
	go func() {
		tun, err := d.Dial(ctx, e.Local(port))
		opened <- dialed{tun, err}
	}()
	// The 101 comes while the dial hangs (were it to wait for the dial,
	// this would wait for the dial's 10 s timeout and be a refusal).
	o := waitOrFail(t, opened, "the 101 while the agent's dial hangs (the upgrade waits for the dial)")
	if o.err != nil {
		t.Fatalf("open while the dial hangs: %v", o.err)
	}
	defer o.tun.Close()
	// The replay guard answered before the 101: the test's lock holds
	// back only the record's commit, if it has not committed yet.
	lock := lockDB(t, e)
	c, err := ln.Accept() // the filler: the agent's next SYN gets through
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	target := serveWatched(ln, recorded, banner)
	waitOrFail(t, target.accepted, "the agent's dial while the record's commit waits")
	if _, err := o.tun.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	first := readFirst(o.tun, recorded)
	lock.release()
	// Each direction's first bytes arrive with the record stored: the
	// target's banner at the client, the client's byte at the target.
	// (The target echoes the client's byte after its banner: one read may
	// bring both.)
	cf := waitOrFail(t, first, "the target's banner at the client")
	if (cf.data != banner && cf.data != banner+"x") || cf.openRecorded != before+1 {
		t.Fatalf("the client's first read: %+v, want the banner with %d records stored", cf, before+1)
	}
	fr := waitOrFail(t, target.first, "the tunnel's first byte at the target")
	if fr.n != 1 || fr.openRecorded != before+1 {
		t.Fatalf("the target's first read: %+v, want 1 byte with %d records stored", fr, before+1)
	}
	if cf.data == banner {
		buf := make([]byte, 1)
		if _, err := io.ReadFull(o.tun, buf); err != nil || buf[0] != 'x' {
			t.Fatalf("echo: %q %v", buf, err)
		}
	}
}
