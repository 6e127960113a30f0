package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migration is one numbered DDL file.
type migration struct {
	version int    // from the file name's leading digits
	name    string // the file name
	sql     string
}

// loadMigrations reads NNNN_name.sql files from fsys, ordered by version.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		digits, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(digits)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql", e.Name())
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %q and %q share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// createMigrationsTable is portable DDL (BIGINT is an INTEGER in SQLite).
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)`

// migrate applies, in one transaction and in version order, every
// migration that schema_migrations does not list yet. A database that is
// up to date is left untouched; one migrated by a newer Postern (a version
// this binary does not know) is refused.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations(s.d.migrations())
	if err != nil {
		return fmt.Errorf("sqlstore: load %s migrations: %w", s.d.name(), err)
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}

	// Fast path for an up-to-date database: no write transaction at all.
	if v, err := s.schemaVersion(ctx, s.writer); err == nil && v == latest {
		return nil
	}

	// The migration transaction runs at the database's default isolation
	// (READ COMMITTED with PostgreSQL), not writeTx's: after
	// lockMigrations waited for another migrator, each statement must see
	// what that one committed.
	err = s.writeTxWith(ctx, nil, true, func(ctx2 *cachedTx) error {
		tx := ctx2.Tx // DDL runs unprepared
		if err := s.d.lockMigrations(ctx, tx); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied, err := appliedVersions(ctx, tx)
		if err != nil {
			return err
		}
		if n := len(applied); n > 0 && applied[n-1] > latest {
			return fmt.Errorf("database schema version %d is newer than this build knows (%d)", applied[n-1], latest)
		}
		insert := s.d.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
		for _, m := range ms {
			if _, ok := slices.BinarySearch(applied, m.version); ok {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, insert, m.version, m.name, toMicros(time.Now())); err != nil {
				return fmt.Errorf("record %s: %w", m.name, err)
			}
			s.log.Info("sqlstore: applied migration", "dialect", s.d.name(), "version", m.version, "name", m.name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}

func appliedVersions(ctx context.Context, q querier) ([]int, error) {
	rows, err := q.QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return vs, nil
}

// schemaVersion is the highest applied migration, 0 for none.
func (s *Store) schemaVersion(ctx context.Context, q querier) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

// SchemaVersion returns the version of the newest migration applied to the
// database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := s.schemaVersion(ctx, s.reader)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: schema version: %w", err)
	}
	return v, nil
}
