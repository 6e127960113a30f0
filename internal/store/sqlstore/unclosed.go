package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/postern/postern/internal/store"
)

// The journal of open tunnels (store.TunnelJournal). Schema: migration
// 0032.
//
// AppendEvents adds a row in the transaction that commits a tunnel's
// OpenTunnel record and deletes it in the one that commits its
// CloseTunnel record: one more statement each, in a transaction (and a
// commit, an fsync with SQLite) the record pays for anyway. The rows are
// therefore exactly the tunnels whose open is on record and whose close
// is not, whatever happens to the process: a crash either keeps the
// record and its row or neither. Writes do not count as changes: nothing
// caches these rows.

var _ store.TunnelJournal = (*Store)(nil)

// newCarrier returns a random carrier name for a store whose owner set
// none ("p-" and 16 hex digits).
func newCarrier() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "p-" + hex.EncodeToString(b)
}

// SetTunnelCarrier implements store.TunnelJournal.
func (s *Store) SetTunnelCarrier(carrier string) { s.carrier.Store(&carrier) }

// TunnelCarrier implements store.TunnelJournal.
func (s *Store) TunnelCarrier() string { return *s.carrier.Load() }

// journalEvent adds or removes the journal row of a tunnel record e, in
// the transaction that commits e; other records leave the journal alone.
func (r *repo) journalEvent(ctx context.Context, q querier, e *store.Event) error {
	if e.TunnelID == "" {
		return nil
	}
	switch {
	case e.EventName == store.EventNameOpenTunnel && e.ErrorCode == "":
		_, err := q.ExecContext(ctx, r.s.q.journalOpen, e.TunnelID, r.s.TunnelCarrier(), e.EventID)
		if err != nil {
			return fmt.Errorf("journal the open of tunnel %s: %w", e.TunnelID, err)
		}
	case e.EventName == store.EventNameCloseTunnel:
		res, err := q.ExecContext(ctx, r.s.q.journalClose, e.TunnelID)
		if err != nil {
			return fmt.Errorf("journal the close of tunnel %s: %w", e.TunnelID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("journal the close of tunnel %s: %w", e.TunnelID, err)
		} else if n == 0 {
			return r.lateClose(ctx, q, e)
		}
	}
	return nil
}

// lateClose checks a CloseTunnel record e whose tunnel was not in the
// journal: opened before migration 0032 (its close is committed), or
// closed by recovery (CloseUnclosedTunnel), whose record would then be
// the tunnel's second CloseTunnel (store.ErrCloseRecovered). One look-up
// of the recovered record's primary key, in e's transaction: recovery's
// commit either came first (with PostgreSQL, e's DELETE of the journal
// row then fails as a serialization failure and runs again, and finds
// it) or finds the row gone and commits nothing.
func (r *repo) lateClose(ctx context.Context, q querier, e *store.Event) error {
	var one int
	err := q.QueryRowContext(ctx, r.s.q.recoveredClose, store.RecoveredCloseEventID(e.TunnelID)).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("look up the recovered close of tunnel %s: %w", e.TunnelID, err)
	}
	return &store.CloseRecoveredError{EventID: e.EventID, TunnelID: e.TunnelID, EventTime: e.EventTime}
}

// UnclosedTunnelsAfter implements store.TunnelJournal: a range of the
// journal's primary key.
func (s *Store) UnclosedTunnelsAfter(ctx context.Context, keep []string, seenSince time.Time, after string, limit int) ([]store.UnclosedTunnel, error) {
	r := &s.repo
	query := "SELECT o.tunnel_id, o.carrier, e.event_id, e.event_time, e.event_source, e.event_name, e.read_only, e.username," +
		" e.access_key_id, e.resource_type, e.resource_name, e.error_code, e.tunnel_id, e.request_id, e.body," +
		" COALESCE(rp.last_seen, 0), COALESCE(l.bytes_in, 0), COALESCE(l.bytes_out, 0), COALESCE(l.updated_at, 0)" +
		" FROM open_tunnels o JOIN events e ON e.event_id = o.open_event_id" +
		" LEFT JOIN replicas rp ON rp.replica_id = o.carrier" +
		" LEFT JOIN live_tunnels l ON l.tunnel_id = o.tunnel_id AND l.replica_id = o.carrier WHERE 1 = 1"
	var args []any
	if len(keep) > 0 {
		query, args = query+" AND o.carrier NOT IN ("+placeholders(len(keep))+")", anySlice(keep)
	}
	if !seenSince.IsZero() {
		query, args = query+" AND (rp.last_seen IS NULL OR rp.last_seen < ?)", append(args, toMicros(seenSince))
	}
	query, args = query+" AND o.tunnel_id > ? ORDER BY o.tunnel_id", append(args, after)
	if limit > 0 {
		query, args = query+" LIMIT ?", append(args, limit)
	}
	// Run at start and when replicas come and go: unprepared.
	rows, err := r.readAdHoc().QueryContext(ctx, r.q(query), args...)
	if err != nil {
		return nil, r.fail(err, "list unclosed tunnels")
	}
	defer rows.Close()
	var out []store.UnclosedTunnel
	for rows.Next() {
		var u store.UnclosedTunnel
		e := &u.Open
		var tm, ro, seen, bytesAt int64
		if err := rows.Scan(&u.TunnelID, &u.Carrier, &e.EventID, &tm, &e.EventSource, &e.EventName, &ro, &e.Username,
			&e.AccessKeyID, &e.ResourceType, &e.ResourceName, &e.ErrorCode, &e.TunnelID, &e.RequestID, &e.Body,
			&seen, &u.BytesIn, &u.BytesOut, &bytesAt); err != nil {
			return nil, r.fail(err, "list unclosed tunnels")
		}
		e.EventTime, e.ReadOnly = fromOptMicros(tm), ro != 0
		u.CarrierSeen, u.BytesAt = fromOptMicros(seen), fromOptMicros(bytesAt)
		out = append(out, u)
	}
	return out, r.fail(rows.Err(), "list unclosed tunnels")
}

// errJournalGone stops CloseUnclosedTunnel's write when the tunnel left
// the journal meanwhile.
var errJournalGone = errors.New("the tunnel is no longer in the journal")

// CloseUnclosedTunnel implements store.TunnelJournal: the DELETE of the
// journal row decides (with PostgreSQL, a second process deleting the same
// row waits for the first one's commit and then deletes nothing), and the
// record is inserted only by the transaction whose DELETE removed it.
func (s *Store) CloseUnclosedTunnel(ctx context.Context, tunnelID string, e store.Event) (bool, error) {
	if e.EventName != store.EventNameCloseTunnel || e.TunnelID != tunnelID {
		return false, fmt.Errorf("sqlstore: close unclosed tunnel %s: the record is not its CloseTunnel", tunnelID)
	}
	r := &s.repo
	err := r.writeQuiet(ctx, func(q querier) error {
		// The carrier's last published row (kept for this record by
		// DeleteLiveTunnels) goes with the journal row.
		if _, err := q.ExecContext(ctx, r.q("DELETE FROM live_tunnels WHERE tunnel_id = ? AND replica_id IN"+
			" (SELECT carrier FROM open_tunnels WHERE tunnel_id = ?)"), tunnelID, tunnelID); err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, r.q("DELETE FROM open_tunnels WHERE tunnel_id = ?"), tunnelID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errJournalGone
		}
		_, err = q.ExecContext(ctx, r.q("INSERT INTO events ("+eventCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			e.EventID, optMicros(e.EventTime), e.EventSource, e.EventName, boolInt(e.ReadOnly), e.Username, e.AccessKeyID,
			e.ResourceType, e.ResourceName, e.ErrorCode, e.TunnelID, e.RequestID, e.Body)
		return err
	})
	if errors.Is(err, errJournalGone) {
		return false, nil
	}
	if err != nil {
		return false, r.fail(err, "close unclosed tunnel %s", tunnelID)
	}
	return true, nil
}

// LastEventTime implements store.TunnelJournal (events_by_time serves it).
func (s *Store) LastEventTime(ctx context.Context, before time.Time) (time.Time, error) {
	r := &s.repo
	if s.journal != nil && s.bound(ctx) == nil { // the journalled records too (recordjournal.go)
		if err := s.journal.drain(ctx); err != nil {
			return time.Time{}, r.fail(err, "last event time")
		}
	}
	var us sql.NullInt64
	err := r.readAdHoc().QueryRowContext(ctx, r.q("SELECT MAX(event_time) FROM events WHERE event_time < ?"), toMicros(before)).Scan(&us)
	if err != nil {
		return time.Time{}, r.fail(err, "last event time")
	}
	return fromOptMicros(us.Int64), nil
}

// A PostgresStore journals as its Store does (its methods, below).
var _ store.TunnelJournal = (*PostgresStore)(nil)

// SetTunnelCarrier implements store.TunnelJournal.
func (p *PostgresStore) SetTunnelCarrier(carrier string) { p.s.SetTunnelCarrier(carrier) }

// TunnelCarrier implements store.TunnelJournal.
func (p *PostgresStore) TunnelCarrier() string { return p.s.TunnelCarrier() }

// UnclosedTunnelsAfter implements store.TunnelJournal.
func (p *PostgresStore) UnclosedTunnelsAfter(ctx context.Context, keep []string, seenSince time.Time, after string, limit int) ([]store.UnclosedTunnel, error) {
	return p.s.UnclosedTunnelsAfter(ctx, keep, seenSince, after, limit)
}

// CloseUnclosedTunnel implements store.TunnelJournal.
func (p *PostgresStore) CloseUnclosedTunnel(ctx context.Context, tunnelID string, e store.Event) (bool, error) {
	return p.s.CloseUnclosedTunnel(ctx, tunnelID, e)
}

// LastEventTime implements store.TunnelJournal.
func (p *PostgresStore) LastEventTime(ctx context.Context, before time.Time) (time.Time, error) {
	return p.s.LastEventTime(ctx, before)
}
