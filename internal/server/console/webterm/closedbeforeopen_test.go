package webterm_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/server"
)

// TestTerminalTunnelClosedBeforeItOpened: the front door answers 101
// before the agent's dial and the tunnel's record, reads nothing from the
// client until both are done, and closes the WebSocket (1011) when either
// fails (here the record: the database refuses it, a trigger of the
// test's). The console's tunnel runs over an in-memory connection with no
// buffer, and the SSH client writes its version before it reads: that
// write must not wait for the front door to read while the front door's
// close frame waits for the terminal to read. The page hears of the
// failure at once (b.next waits 30 s at most; before, it came after the
// front door's 60 s write timeout, as "read/write on closed pipe").
func TestTerminalTunnelClosedBeforeItOpened(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.env.Dir, server.DatabaseFile)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TRIGGER test_refuse_opens BEFORE INSERT ON events
		WHEN NEW.event_name = 'OpenTunnel' AND NEW.error_code = ''
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	b := f.open(t, "alice", 80, 24)
	m := b.next()
	if m == nil || m["type"] != "closed" {
		t.Fatalf("first message %v, want the tunnel's close", m)
	}
	if msg, _ := m["message"].(string); !strings.Contains(msg, "could not be recorded") {
		t.Fatalf("close %v, want the front door's reason (the tunnel could not be recorded)", m)
	}
}
