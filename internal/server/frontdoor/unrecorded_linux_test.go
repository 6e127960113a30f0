//go:build linux

package frontdoor_test

import (
	"context"
	"database/sql"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	_ "modernc.org/sqlite" // the SQLite driver, to add a trigger to the server's database

	"github.com/postern/postern/internal/server"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestUnrecordedAttempts: an attempt whose OpenTunnel record cannot be
// committed (a trigger of the test's refuses the row) closes the tunnel
// 1011 "could not be recorded" before any byte flows, whatever its dial
// did, and is counted once, never as an opened tunnel:
//   - a dial that failed, where failed dials are counted (reason "dial"),
//     or, when the record's commit failed before the dial's answer came
//     (the dial is then ended for the record: a race on loopback), as an
//     internal error;
//   - a dial that succeeded, as an internal error (it was counted in no
//     metric before);
//   - a dial that still hangs is ended at once, not awaited to its
//     timeout (slot and client held) and then counted as a failed dial:
//     an internal error too.
func TestUnrecordedAttempts(t *testing.T) {
	cases := []struct {
		name   string
		target func(t *testing.T) int // the port the agent dials
		reason string                 // tunnels_refused_total's (a regexp)
	}{
		{"dial fails", closedPort, "dial|internal"},
		{"dial succeeds", func(t *testing.T) int { return tunneltest.Echo(t).Port }, "internal"},
		{"dial hangs", func(t *testing.T) int {
			ln, port := listenNoBacklog(t)
			filler, err := net.Dial("tcp", ln.Addr().String()) // fills the backlog
			must(t, err)
			t.Cleanup(func() { filler.Close() })
			return port
		}, "internal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := startAll(t)
			ctx := context.Background()
			mln, err := net.Listen("tcp", "127.0.0.1:0")
			must(t, err)
			go e.Server.ServeMetrics(mln)
			refuseOpenTunnelRecords(t, e)
			tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(c.target(t)))
			if err != nil {
				t.Fatalf("want the upgrade, then a close: %v", err)
			}
			closedWith(t, tun, 1011, "could not be recorded")
			tun.Close()
			resp, err := e.HTTP.Get("https://" + mln.Addr().String() + "/metrics")
			must(t, err)
			defer resp.Body.Close()
			text, _ := io.ReadAll(resp.Body)
			series := regexp.MustCompile(`(?m)^postern_tunnels_.*$`).FindAll(text, -1)
			if regexp.MustCompile(`(?m)^postern_tunnels_refused_total\{reason="(`+c.reason+`)"\} 1$`).Find(text) == nil {
				t.Errorf("not counted as tunnels_refused_total{reason=%q} 1 in:\n%s", c.reason, series)
			}
			// Counted once: one refusal in all.
			refused := 0
			for _, m := range regexp.MustCompile(`(?m)^postern_tunnels_refused_total\{reason="[^"]*"\} (\d+)$`).FindAllSubmatch(text, -1) {
				n, _ := strconv.Atoi(string(m[1]))
				refused += n
			}
			if refused != 1 {
				t.Errorf("counted %d refusals in all, want 1, in:\n%s", refused, series)
			}
			if regexp.MustCompile(`(?m)^postern_tunnels_opened_total 0$`).Find(text) == nil {
				t.Errorf("counted as opened (want postern_tunnels_opened_total 0) in:\n%s", series)
			}
		})
	}
}

// refuseOpenTunnelRecords makes the server's database refuse every
// OpenTunnel record of an attempt (a trigger on its events table).
func refuseOpenTunnelRecords(t *testing.T, e *tunneltest.Env) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.Dir, server.DatabaseFile)+"?_pragma=busy_timeout(10000)")
	must(t, err)
	defer db.Close()
	_, err = db.ExecContext(context.Background(), `CREATE TRIGGER test_refuse_opens BEFORE INSERT ON events
		WHEN NEW.event_name = 'OpenTunnel' AND NEW.error_code = ''
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`)
	must(t, err)
}
