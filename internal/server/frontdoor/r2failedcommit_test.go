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

// TestR2FailedDialCountedWhenItsRecordFails: a dial that fails while the
// attempt's OpenTunnel record cannot be committed (a trigger of the
// test's refuses the row) closes the tunnel 1011 "could not be recorded"
// and is still counted where failed dials are counted
// (tunnels_refused_total{reason="dial"}), as it was before the record
// overlapped the dial (then its refusal's own record was written and
// counted apart from the opening's). Before, it was counted nowhere.
func TestR2FailedDialCountedWhenItsRecordFails(t *testing.T) {
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
	tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(closedPort(t)))
	if err != nil {
		t.Fatalf("want the upgrade, then a close: %v", err)
	}
	closedWith(t, tun, 1011, "could not be recorded")
	tun.Close()
	resp, err := e.HTTP.Get("https://" + ln.Addr().String() + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	if m := regexp.MustCompile(`(?m)^postern_tunnels_refused_total\{reason="dial"\} 1$`).Find(text); m == nil {
		t.Fatalf("no failed dial counted (tunnels_refused_total{reason=\"dial\"} 1) in:\n%s", regexp.MustCompile(`(?m)^postern_tunnels_.*$`).FindAll(text, -1))
	}
}
