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
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestQGDialedButUnrecordedCounted: a dial that succeeds while the
// attempt's OpenTunnel record cannot be committed (a trigger of the
// test's refuses the row) closes the tunnel 1011 "could not be recorded"
// before any byte flows, and is counted as a refusal for an internal
// error (tunnels_refused_total{reason="internal"}), never as an opened
// tunnel. Before, it was counted in no metric (a failed dial in the same
// case is counted as reason "dial": TestR2FailedDialCountedWhenItsRecordFails).
func TestQGDialedButUnrecordedCounted(t *testing.T) {
	e := startAll(t)
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go e.Server.ServeMetrics(ln)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.Dir, server.DatabaseFile)+"?_pragma=busy_timeout(10000)")
	must(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, `CREATE TRIGGER test_refuse_opens BEFORE INSERT ON events
		WHEN NEW.event_name = 'OpenTunnel' AND NEW.error_code = ''
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`)
	must(t, err)
	echo := tunneltest.Echo(t)
	tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(echo.Port))
	if err != nil {
		t.Fatalf("want the upgrade, then a close: %v", err)
	}
	closedWith(t, tun, 1011, "could not be recorded")
	tun.Close()
	resp, err := e.HTTP.Get("https://" + ln.Addr().String() + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	series := regexp.MustCompile(`(?m)^postern_tunnels_.*$`).FindAll(text, -1)
	if m := regexp.MustCompile(`(?m)^postern_tunnels_refused_total\{reason="internal"\} 1$`).Find(text); m == nil {
		t.Fatalf("the unrecorded tunnel is not counted (tunnels_refused_total{reason=\"internal\"} 1) in:\n%s", series)
	}
	if m := regexp.MustCompile(`(?m)^postern_tunnels_opened_total 0$`).Find(text); m == nil {
		t.Fatalf("the unrecorded tunnel is counted as opened (want postern_tunnels_opened_total 0) in:\n%s", series)
	}
}
