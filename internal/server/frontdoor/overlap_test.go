package frontdoor_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
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

// TestDialOverlapsTheCommitNoByteBeforeTheRecord: the agent dials the
// target while the server's commits wait (here: another connection holds
// the SQLite database's write lock, so the replay guard's write and the
// OpenTunnel record cannot commit), yet no byte reaches the target or the
// client before the attempt's record is committed: the client gets no
// answer while the lock is held, and the target's first bytes arrive
// with the record on disk.
func TestDialOverlapsTheCommitNoByteBeforeTheRecord(t *testing.T) {
	e := startAll(t)
	ctx := context.Background()
	target := startWatchedTarget(t, func() int { return successfulOpens(t, e) })
	d := e.Dialer(e.Admin)

	// A first tunnel warms the server up (nothing below waits on a
	// one-time cost) and shows the target works.
	warm, err := d.Dial(ctx, e.Local(target.port))
	if err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, target.accepted, "the first tunnel's dial")
	if _, err := warm.Write([]byte("w")); err != nil {
		t.Fatal(err)
	}
	if fr := waitOrFail(t, target.first, "the first tunnel's byte"); fr.n != 1 || fr.openRecorded != 1 {
		t.Fatalf("first tunnel: first read %+v, want 1 byte with 1 record stored", fr)
	}
	warm.Close()

	lock := lockDB(t, e)
	before := successfulOpens(t, e)

	type dialed struct {
		tun *client.Tunnel
		err error
	}
	opened := make(chan dialed, 1)
	go func() {
		tun, err := d.Dial(ctx, e.Local(target.port))
		opened <- dialed{tun, err}
	}()
	// The agent dials while the commits wait...
	waitOrFail(t, target.accepted, "the agent's dial while the server's commits wait (the dial does not overlap the commit)")
	// ...but the client has no answer, and nothing is on record yet.
	select {
	case o := <-opened:
		t.Fatalf("the client was answered (tunnel %v, error %v) before the attempt could be recorded", o.tun != nil, o.err)
	default:
	}
	if n := successfulOpens(t, e); n != before {
		t.Fatalf("%d successful OpenTunnel records while the database was locked, want %d", n, before)
	}

	lock.release()
	o := waitOrFail(t, opened, "the tunnel after the lock was released")
	if o.err != nil {
		t.Fatalf("open after the lock was released: %v", o.err)
	}
	defer o.tun.Close()
	if n := successfulOpens(t, e); n != before+1 {
		t.Fatalf("%d successful OpenTunnel records when the client was answered, want %d", n, before+1)
	}
	if _, err := o.tun.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	fr := waitOrFail(t, target.first, "the tunnel's first byte at the target")
	if fr.n != 1 || fr.openRecorded != before+1 {
		t.Fatalf("the target's first read: %+v, want 1 byte with %d records stored", fr, before+1)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(o.tun, buf); err != nil || buf[0] != 'x' {
		t.Fatalf("echo: %q %v", buf, err)
	}
}

// TestReplayRefusedAfterAnOverlappedDial: the replay guard's refusal comes
// after the agent's dial (which overlaps the guard's commit), yet it is
// the answer: the client is refused as a replay, the dialled connection
// ends without a byte, and the attempt is recorded once, with the
// replay's errorCode and no agent, as when the guard answered first.
func TestReplayRefusedAfterAnOverlappedDial(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { allPorts(c); c.Tunnel.Replay = "single-use" }})
	ctx := context.Background()
	target := startWatchedTarget(t, func() int { return successfulOpens(t, e) })
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
	first.Close()
	if fr := waitOrFail(t, target.first, "the first use's end"); fr.n != 0 {
		t.Fatalf("first use: the target read %d bytes, none were sent", fr.n)
	}

	// The second use: the guard's write waits for the lock, the agent
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
	if len(evs) != 2 {
		t.Fatalf("%d OpenTunnel records, want 2", len(evs))
	}
	refused := evs[0] // newest first
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
