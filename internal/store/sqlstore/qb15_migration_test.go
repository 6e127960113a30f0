package sqlstore

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// migrateRawTo applies fsys's migrations up to version upTo to db, as a
// Postern of that schema would have (the rows of schema_migrations
// included): a database made by the previous migration set.
func migrateRawTo(t *testing.T, db *sql.DB, fsys fs.FS, rebind func(string) string, upTo int) {
	t.Helper()
	ctx := t.Context()
	ms, err := loadMigrations(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, createMigrationsTable); err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, m := range ms {
		if m.version > upTo {
			break
		}
		if _, err := db.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("apply %s: %v", m.name, err)
		}
		if _, err := db.ExecContext(ctx, rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
			m.version, m.name, toMicros(time.Now())); err != nil {
			t.Fatal(err)
		}
		applied = m.version
	}
	if applied != upTo {
		t.Fatalf("migrations applied up to %d, want %d", applied, upTo)
	}
}

// openTunnelsAfter0033 checks, on db migrated past 0033, that the row of
// open_tunnels written at 0032 kept its other columns and that the table
// has the columns want.
func openTunnelsAfter0033(t *testing.T, ctx context.Context, q querier, rebind func(string) string, columns string, want []string) {
	t.Helper()
	var tunnel, carrier, openEvent string
	if err := q.QueryRowContext(ctx, rebind("SELECT tunnel_id, carrier, open_event_id FROM open_tunnels WHERE tunnel_id = ?"), "tun-0032").
		Scan(&tunnel, &carrier, &openEvent); err != nil {
		t.Fatalf("the row written at 0032: %v", err)
	}
	if tunnel != "tun-0032" || carrier != "p-0032" || openEvent != "ev-0032" {
		t.Errorf("the row written at 0032 reads (%q, %q, %q)", tunnel, carrier, openEvent)
	}
	rows, err := q.QueryContext(ctx, columns)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := scanStrings(rows)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(cols)
	if !slices.Equal(cols, want) {
		t.Errorf("open_tunnels columns %q, want %q", cols, want)
	}
}

// insert0032Row writes a row of open_tunnels as a Postern at schema 0032
// did (opened_at included).
func insert0032Row(t *testing.T, db *sql.DB, rebind func(string) string) {
	t.Helper()
	if err := insertAs0032(t.Context(), db, rebind, "tun-0032", "p-0032", "ev-0032"); err != nil {
		t.Fatal(err)
	}
}

// insertAs0032 journals a tunnel's open with the statement a Postern at
// schema 0032 runs.
func insertAs0032(ctx context.Context, db *sql.DB, rebind func(string) string, tunnel, carrier, openEvent string) error {
	_, err := db.ExecContext(ctx, rebind("INSERT INTO open_tunnels (tunnel_id, carrier, open_event_id, opened_at) VALUES (?, ?, ?, ?)"),
		tunnel, carrier, openEvent, int64(1_780_000_000_000_000))
	return err
}

// A SQLite database made by migrations up to 0032, with a tunnel in the
// journal of open tunnels, opens at the latest version: the row keeps its
// other columns, opened_at is gone, and a tunnel's open is journalled.
func TestQB15Migration0033SQLite(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "postern.db")
	db, err := sql.Open("sqlite", sqliteDSN(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	d := sqliteDialect{}
	migrateRawTo(t, db, d.migrations(), d.rebind, 32)
	insert0032Row(t, db, d.rebind)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := OpenSQLite(ctx, path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != latestVersion(t) || v < 33 {
		t.Fatalf("schema version %d (%v), want the latest (%d), at least 33", v, err, latestVersion(t))
	}
	openTunnelsAfter0033(t, ctx, s.reader, d.rebind, "SELECT name FROM pragma_table_info('open_tunnels')",
		[]string{"carrier", "open_event_id", "tunnel_id"})
	journalledOpen(t, ctx, s, s.reader, d.rebind)
}

// The same on PostgreSQL, where 0033 keeps opened_at but lets it be NULL:
// a replica still at 0032 during a rolling upgrade (it shares the
// database) keeps journalling its tunnels' opens with it.
func TestQB15Migration0033Postgres(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Start(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := postgresDialect{}
	migrateRawTo(t, db, d.migrations(), d.rebind, 32)
	insert0032Row(t, db, d.rebind)

	pg := openPG(t, dsn)
	if v, err := pg.SchemaVersion(ctx); err != nil || v < 33 {
		t.Fatalf("schema version %d (%v), want at least 33", v, err)
	}
	openTunnelsAfter0033(t, ctx, db, d.rebind,
		"SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'open_tunnels'",
		[]string{"carrier", "open_event_id", "opened_at", "tunnel_id"})
	journalledOpen(t, ctx, pg.s, db, d.rebind)
	if err := insertAs0032(ctx, db, d.rebind, "tun-old-replica", "p-old", "ev-old"); err != nil {
		t.Errorf("a replica at 0032 journals a tunnel's open after 0033: %v", err)
	}
}

// journalledOpen commits a tunnel's OpenTunnel record through s and finds
// the tunnel in the journal of open tunnels.
func journalledOpen(t *testing.T, ctx context.Context, s *Store, q querier, rebind func(string) string) {
	t.Helper()
	open := store.Event{EventID: "ev-0033", EventTime: time.UnixMicro(1_780_000_000_500_000), EventSource: "ec2-instance-connect.amazonaws.com",
		EventName: store.EventNameOpenTunnel, TunnelID: "tun-0033", Body: "{}"}
	if err := s.AppendEvents(ctx, []store.Event{open}); err != nil {
		t.Fatalf("the open of a tunnel after 0033: %v", err)
	}
	var carrier string
	if err := q.QueryRowContext(ctx, rebind("SELECT carrier FROM open_tunnels WHERE tunnel_id = ? AND open_event_id = ?"), "tun-0033", "ev-0033").
		Scan(&carrier); err != nil {
		t.Fatalf("the tunnel opened after 0033 in the journal: %v", err)
	}
	if carrier != s.TunnelCarrier() {
		t.Errorf("carrier %q, want %q", carrier, s.TunnelCarrier())
	}
}
