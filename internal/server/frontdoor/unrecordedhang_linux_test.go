//go:build linux

package frontdoor_test

import (
	"context"
	"database/sql"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"testing"

	_ "modernc.org/sqlite" // the SQLite driver, to add a trigger to the server's database

	"github.com/postern/postern/internal/server"
)

// TestUnrecordedAttemptEndsAHangingDial: when the attempt's OpenTunnel
// record cannot be committed (a trigger of the test's refuses the row)
// while the agent's dial still hangs (a target whose backlog is full),
// the dial is ended at once and the attempt refused as an internal error
// (tunnels_refused_total{reason="internal"}), not awaited to the dial's
// timeout and then counted as a failed dial.
func TestUnrecordedAttemptEndsAHangingDial(t *testing.T) {
	e := startAll(t)
	ctx := context.Background()
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go e.Server.ServeMetrics(mln)
	ln, port := listenNoBacklog(t)
	filler, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	defer filler.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.Dir, server.DatabaseFile)+"?_pragma=busy_timeout(10000)")
	must(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, `CREATE TRIGGER test_refuse_opens BEFORE INSERT ON events
		WHEN NEW.event_name = 'OpenTunnel' AND NEW.error_code = ''
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`)
	must(t, err)
	tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(port))
	if err != nil {
		t.Fatalf("want the upgrade (the 101 leaves while the dial hangs), then a close: %v", err)
	}
	closedWith(t, tun, 1011, "could not be recorded")
	tun.Close()
	resp, err := e.HTTP.Get("https://" + mln.Addr().String() + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	series := regexp.MustCompile(`(?m)^postern_tunnels_refused_total.*$`).FindAll(text, -1)
	if regexp.MustCompile(`(?m)^postern_tunnels_refused_total\{reason="internal"\} 1$`).Find(text) == nil {
		t.Fatalf("the unrecorded attempt is not refused as internal (tunnels_refused_total{reason=\"internal\"} 1); the dial was awaited? series:\n%s", series)
	}
}
