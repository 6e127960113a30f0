package frontdoor_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	_ "modernc.org/sqlite" // the SQLite driver, to hold the server's database write lock

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// watchedTarget is a TCP target that tells of every connection it accepts
// and of the first bytes each one receives (or of its end without any).
type watchedTarget struct {
	port     int
	accepted chan struct{}
	// first hears, per connection, what the connection's first read
	// returned: n > 0 bytes (then it echoes), or 0 and the error.
	first chan firstRead
}

type firstRead struct {
	conn         int // the connection's place in the order of accepts, from 1
	data         string
	n            int
	err          error
	openRecorded int // successful OpenTunnel records stored when the bytes arrived
}

// startWatchedTarget starts it; recorded counts the stored successful
// OpenTunnel records at the moment the first bytes of a connection arrive.
func startWatchedTarget(t *testing.T, recorded func() int) *watchedTarget {
	t.Helper()
	return startBannerTarget(t, recorded, "")
}

// startBannerTarget is startWatchedTarget whose connections first send
// banner (as sshd sends its version) before they read.
func startBannerTarget(t *testing.T, recorded func() int, banner string) *watchedTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return serveWatched(ln, recorded, banner)
}

// serveWatched serves a watchedTarget on ln, from now on.
func serveWatched(ln net.Listener, recorded func() int, banner string) *watchedTarget {
	w := &watchedTarget{port: ln.Addr().(*net.TCPAddr).Port, accepted: make(chan struct{}, 16), first: make(chan firstRead, 16)}
	go func() {
		for i := 1; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			w.accepted <- struct{}{}
			go func() {
				defer c.Close()
				if banner != "" {
					if _, err := io.WriteString(c, banner); err != nil {
						w.first <- firstRead{conn: i, err: err}
						return
					}
				}
				buf := make([]byte, 1024)
				n, err := c.Read(buf)
				fr := firstRead{conn: i, data: string(buf[:n]), n: n, err: err}
				if n > 0 {
					fr.openRecorded = recorded()
				}
				w.first <- fr
				if n == 0 {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return w
}

// successfulOpens counts the stored OpenTunnel records without an error.
func successfulOpens(t *testing.T, e *tunneltest.Env) int {
	t.Helper()
	n := 0
	for _, ev := range events(t, e, "OpenTunnel") {
		if ev.ErrorCode == "" {
			n++
		}
	}
	return n
}

// waitOrFail waits (bounded) for a signal.
func waitOrFail[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: not within 15 s", what)
	}
	var zero T
	return zero
}

// dbLock holds the write lock of the server's SQLite database from a
// connection of the test: the server still reads (WAL), but none of its
// commits can finish until release (also run at the test's end).
type dbLock struct {
	t    *testing.T
	conn *sql.Conn
	held bool
}

func lockDB(t *testing.T, e *tunneltest.Env) *dbLock {
	t.Helper()
	ctx := context.Background()
	// A commit of the server's may be running: wait for it (bounded).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.Dir, server.DatabaseFile)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		conn.Close()
		db.Close()
		t.Fatal(err)
	}
	l := &dbLock{t: t, conn: conn, held: true}
	t.Cleanup(func() {
		l.release()
		conn.Close()
		db.Close()
	})
	return l
}

func (l *dbLock) release() {
	if !l.held {
		return
	}
	l.held = false
	if _, err := l.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		l.t.Error(err)
	}
}

// clientFirst is what a tunnel's client read first: the bytes, or the
// end without any, and the successful OpenTunnel records stored when it
// came.
type clientFirst struct {
	data         string
	err          error
	openRecorded int
}

// readFirst reads the tunnel's first bytes in a goroutine of its own.
func readFirst(tun *client.Tunnel, recorded func() int) <-chan clientFirst {
	ch := make(chan clientFirst, 1)
	go func() {
		buf := make([]byte, 64)
		n, err := tun.Read(buf)
		cf := clientFirst{data: string(buf[:n]), err: err}
		if n > 0 {
			cf.openRecorded = recorded()
		}
		ch <- cf
	}()
	return ch
}

// TestCommitFailureAfterThe101: when the attempt's record cannot be
// committed (here the database refuses the row: a trigger of the test's),
// the client, already answered 101, gets a close 1011 with the reason and
// not a byte of the target's, the target (if dialled meanwhile) gets none
// of the client's, nothing is recorded as opened, and the endpoint's slot
// is free again.
func TestCommitFailureAfterThe101(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { allPorts(c); c.Tunnel.ConcurrencyPerEndpoint = 1 }})
	ctx := context.Background()
	recorded := func() int { return successfulOpens(t, e) }
	target := startBannerTarget(t, recorded, "banner")
	d := e.Dialer(e.Admin)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.Dir, server.DatabaseFile)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TRIGGER test_refuse_opens BEFORE INSERT ON events
		WHEN NEW.event_name = 'OpenTunnel' AND NEW.error_code = ''
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	tun, err := d.Dial(ctx, e.Local(target.port))
	if err != nil {
		t.Fatalf("want the upgrade, then a close: %v", err)
	}
	defer tun.Close()
	_, _ = tun.Write([]byte("x")) // the close may have come already
	got, err := io.ReadAll(tun)
	var ce *client.ClosedError
	if !errors.As(err, &ce) || ce.Code != 1011 || !strings.Contains(ce.Reason, "could not be recorded") {
		t.Fatalf("the tunnel ended with %v, want a close 1011 saying it could not be recorded", err)
	}
	if len(got) != 0 {
		t.Fatalf("the client read %q from a tunnel that was never recorded", got)
	}
	if n := successfulOpens(t, e); n != 0 {
		t.Fatalf("%d successful OpenTunnel records, want none", n)
	}
	if n := len(events(t, e, "CloseTunnel")); n != 0 {
		t.Fatalf("%d CloseTunnel records for a tunnel that never opened, want none", n)
	}

	// The slot (the endpoint's only one) was released: once the database
	// takes records again, a tunnel opens and carries bytes.
	if _, err := db.ExecContext(ctx, "DROP TRIGGER test_refuse_opens"); err != nil {
		t.Fatal(err)
	}
	ok, err := d.Dial(ctx, e.Local(target.port))
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	if cf := waitOrFail(t, readFirst(ok, recorded), "the banner through the next tunnel"); cf.data != "banner" || cf.openRecorded != 1 {
		t.Fatalf("the next tunnel's first read: %+v, want the banner with 1 record stored", cf)
	}

	// The refused attempt's dial runs beside its commit: it may have
	// connected, or been cancelled first. Every connection the target
	// accepted before the next tunnel's first bytes ("y") read none.
	if _, err := ok.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(ok, make([]byte, 1)); err != nil {
		t.Fatalf("the next tunnel's echo: %v", err)
	}
	for {
		fr := waitOrFail(t, target.first, "the next tunnel's bytes at the target")
		if fr.data == "y" {
			break
		}
		if fr.n != 0 {
			t.Fatalf("the target read %+v from a tunnel that was never recorded", fr)
		}
	}
}

// TestReplayRefusedAfterAnOverlappedDial: a replayed URL (single-use
// mode) whose first use this process has not seen — another replica's,
// or one its memory of the guard's rows dropped — waits for the replay
// guard's write, which waits for the database's lock here; the agent dials
// meanwhile, and the guard's refusal still wins: the client is refused
// (403), the dialled connection carries no byte, and the refusal is on
// record once, without an agent. (A URL this process saw used is
// answered from the store's memory: sqlstore's TestPresignReplayFromMemory.)
func TestReplayRefusedAfterAnOverlappedDial(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { allPorts(c); c.Tunnel.Replay = "single-use" }})
	ctx := context.Background()
	target := startWatchedTarget(t, func() int { return successfulOpens(t, e) })
	d := e.Dialer(e.Admin)

	// A URL first used elsewhere: recorded inside a transaction (as
	// another replica's write reaches this store), which this process's
	// memory of the guard's rows does not learn.
	u, err := client.PresignURL(ctx, aws.Credentials(e.Admin), e.Region, e.Local(target.port), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(pu.Query().Get("X-Amz-Signature")))
	now := time.Now().UTC()
	if err := e.Server.Store.InTx(ctx, func(tx store.Repo) error {
		_, isFirst, err := tx.RecordPresignUse(ctx, store.PresignUse{SignatureHash: sum[:], SourceIP: "192.0.2.7",
			FirstUsedAt: now, ExpiresAt: now.Add(15 * time.Minute)})
		if err == nil && !isFirst {
			err = errors.New("the URL was already recorded")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// Its use here: the guard's write waits for the lock, the agent
	// dials meanwhile, then the guard refuses.
	lock := lockDB(t, e)
	refusedErr := make(chan error, 1)
	go func() {
		_, err := d.DialURL(ctx, u, e.DNSName())
		refusedErr <- err
	}()
	waitOrFail(t, target.accepted, "the agent's dial while the replay guard's write waits (the dial does not overlap it)")
	lock.release()
	wantRefusal(t, waitOrFail(t, refusedErr, "the answer to the replay"), 403, "AccessDeniedException", "once")
	if fr := waitOrFail(t, target.first, "the end of the refused attempt's connection"); fr.n != 0 {
		t.Fatalf("the refused attempt's connection carried %d bytes to the target", fr.n)
	}
	evs := events(t, e, "OpenTunnel")
	if len(evs) != 1 {
		t.Fatalf("%d OpenTunnel records, want 1", len(evs))
	}
	refused := evs[0]
	if refused.ErrorCode != "AccessDeniedException" || refused.TunnelID != "" {
		t.Fatalf("the replay was recorded with errorCode %q, tunnel %q; want AccessDeniedException and no tunnel", refused.ErrorCode, refused.TunnelID)
	}
	if strings.Contains(refused.Body, `"agentId"`) {
		t.Errorf("the refused replay's record names an agent: %s", refused.Body)
	}
}

// TestReplayWaitsBeforeAProxyHeaderDial: when the endpoint sends targets a
// PROXY protocol header (written as soon as the agent connected), the dial
// waits for the replay guard, so a replayed URL never reaches the target,
// not even with a header.
func TestReplayWaitsBeforeAProxyHeaderDial(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { allPorts(c); c.Tunnel.Replay = "single-use" }})
	ctx := context.Background()
	if _, err := e.EC2(e.Admin).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{e.Server.Local.EndpointID},
		Tags: []ec2types.Tag{{Key: aws.String("postern:proxy-protocol"), Value: aws.String("v2")}}}); err != nil {
		t.Fatal(err)
	}
	target := startWatchedTarget(t, func() int { return 0 })
	u, err := client.PresignURL(ctx, aws.Credentials(e.Admin), e.Region, e.Local(target.port), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := e.Dialer(e.Admin)
	first, err := d.DialURL(ctx, u, e.DNSName())
	if err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, target.accepted, "the first use's dial")
	if fr := waitOrFail(t, target.first, "the first use's PROXY header"); fr.n == 0 {
		t.Fatalf("first use: the target read no header (%v)", fr.err)
	}
	first.Close()

	_, err = d.DialURL(ctx, u, e.DNSName())
	wantRefusal(t, err, 403, "AccessDeniedException", "once")
	// Connections are accepted in the order they were made: a connection
	// of the test's own, made now, comes after any the refused attempt
	// made.
	marker, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(target.port)))
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	if _, err := marker.Write([]byte("MARK")); err != nil {
		t.Fatal(err)
	}
	// Had the replay reached the target, its connection (the second
	// accepted) would start with a header, and the test's would be third.
	fr := waitOrFail(t, target.first, "the test's own bytes")
	if fr.data != "MARK" || fr.conn != 2 {
		t.Fatalf("connection %d read %q (%v) after the first use, want the test's own (second) reading MARK: the refused replay reached the target",
			fr.conn, fr.data, fr.err)
	}
}

// TestConcurrentUsesOfOneURL: in single-use mode, uses of one URL made at
// the same moment, each dialling while its guard's write commits, open
// exactly one tunnel, and every attempt is recorded once.
func TestConcurrentUsesOfOneURL(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { allPorts(c); c.Tunnel.Replay = "single-use" }})
	ctx := context.Background()
	echo := tunneltest.Echo(t)
	d := e.Dialer(e.Admin)
	const uses = 4
	for round := range 3 {
		u, err := client.PresignURL(ctx, aws.Credentials(e.Admin), e.Region, e.Local(echo.Port), time.Now().Add(time.Duration(round)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		results := make(chan error, uses)
		for range uses {
			go func() {
				<-start
				tun, err := d.DialURL(ctx, u, e.DNSName())
				if err == nil {
					defer tun.Close()
					buf := []byte("x")
					if _, werr := tun.Write(buf); werr != nil {
						err = fmt.Errorf("opened, but: %w", werr)
					} else if _, rerr := io.ReadFull(tun, buf); rerr != nil {
						err = fmt.Errorf("opened, but no echo: %w", rerr)
					}
				}
				results <- err
			}()
		}
		close(start)
		opened := 0
		for range uses {
			err := waitOrFail(t, results, "an attempt's answer")
			if err == nil {
				opened++
				continue
			}
			wantRefusal(t, err, 403, "AccessDeniedException", "once")
		}
		if opened != 1 {
			t.Fatalf("round %d: %d tunnels opened with one single-use URL, want 1", round, opened)
		}
	}
	evs := events(t, e, "OpenTunnel")
	refusedN := 0
	for _, ev := range evs {
		if ev.ErrorCode == "AccessDeniedException" {
			refusedN++
		}
	}
	if len(evs) != 3*uses || refusedN != 3*(uses-1) {
		t.Fatalf("%d OpenTunnel records, %d refused; want %d and %d", len(evs), refusedN, 3*uses, 3*(uses-1))
	}
}
