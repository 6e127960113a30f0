package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/postern/postern/internal/store"
)

// The tunnel repositories (store.Tunnels): endpoint agents, join tokens,
// the presigned-URL replay guard and the audit trail. Schema: migration
// 0004.
//
// As in ec2.go the statements are written in the SQL SQLite and
// PostgreSQL share, with '?' placeholders that r.q passes through the
// dialect, and every write goes through r.write, so that one that fails
// inside InTx leaves nothing behind and the transaction can go on.
//
// Optional times (Agent.RevokedAt, Agent.LastConnectedAt,
// JoinToken.UsedAt) are stored as 0 while unset. So, for uniformity, is
// every other zero time of these records: a zero time comes back as
// time.Time{}, not as year 1 in UTC.
//
// The two operations that decide a race, RedeemJoinToken and
// RecordPresignUse, let the database decide it with one conditional
// statement (an UPDATE … WHERE still unused, an INSERT … ON CONFLICT DO
// NOTHING) whose affected-row count is the verdict, so they stay correct
// with several writers (PostgreSQL with replicas), not only behind
// SQLite's single writer connection.

// optMicros stores a time, the zero time as 0.
func optMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return toMicros(t)
}

// fromOptMicros is the inverse of optMicros: 0 is the zero time.
func fromOptMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

// ---- agents ----

const agentCols = "agent_id, endpoint_id, name, key_fingerprint, created_at, created_by, revoked_at," +
	" last_address, last_version, last_connected_at"

func scanAgent(sc scanner) (store.Agent, error) {
	var a store.Agent
	var created, revoked, connected int64
	if err := sc.Scan(&a.AgentID, &a.EndpointID, &a.Name, &a.KeyFingerprint, &created, &a.CreatedBy, &revoked,
		&a.LastAddress, &a.LastVersion, &connected); err != nil {
		return store.Agent{}, err
	}
	a.CreatedAt, a.RevokedAt, a.LastConnectedAt = fromOptMicros(created), fromOptMicros(revoked), fromOptMicros(connected)
	return a, nil
}

// CreateAgent implements store.Agents.
func (r *repo) CreateAgent(ctx context.Context, a store.Agent) error {
	err := r.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.q("INSERT INTO agents ("+agentCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			a.AgentID, a.EndpointID, a.Name, a.KeyFingerprint, optMicros(a.CreatedAt), a.CreatedBy, optMicros(a.RevokedAt),
			a.LastAddress, a.LastVersion, optMicros(a.LastConnectedAt))
		return err
	})
	return r.fail(err, "create agent %s", a.AgentID)
}

// getAgent reads the one agent whose column col (a fixed identifier) is v.
func (r *repo) getAgent(ctx context.Context, col, v string) (store.Agent, error) {
	a, err := scanAgent(r.read().QueryRowContext(ctx, r.q("SELECT "+agentCols+" FROM agents WHERE "+col+" = ?"), v))
	if errors.Is(err, sql.ErrNoRows) {
		err = notFound("agent")
	}
	return a, err
}

// GetAgent implements store.Agents.
func (r *repo) GetAgent(ctx context.Context, agentID string) (store.Agent, error) {
	a, err := r.getAgent(ctx, "agent_id", agentID)
	if err != nil {
		return store.Agent{}, r.fail(err, "get agent %s", agentID)
	}
	return a, nil
}

// GetAgentByKey implements store.Agents. Fingerprints are compared
// exactly (the caller spells them in lower-case hex).
func (r *repo) GetAgentByKey(ctx context.Context, fingerprint string) (store.Agent, error) {
	a, err := r.getAgent(ctx, "key_fingerprint", fingerprint)
	if err != nil {
		return store.Agent{}, r.fail(err, "get agent by key %s", fingerprint)
	}
	return a, nil
}

// ListAgents implements store.Agents. An endpoint without agents (or one
// that does not exist) has an empty list.
func (r *repo) ListAgents(ctx context.Context, endpointID string) ([]store.Agent, error) {
	query, args := "SELECT "+agentCols+" FROM agents", []any(nil)
	if endpointID != "" {
		query, args = query+" WHERE endpoint_id = ?", []any{endpointID}
	}
	rows, err := r.read().QueryContext(ctx, r.q(query+" ORDER BY agent_id"), args...)
	if err != nil {
		return nil, r.fail(err, "list agents")
	}
	defer rows.Close()
	var out []store.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, r.fail(err, "list agents")
		}
		out = append(out, a)
	}
	return out, r.fail(rows.Err(), "list agents")
}

// UpdateAgentConnection implements store.Agents. It records the
// connection of a revoked agent too; refusing it is the caller's job.
func (r *repo) UpdateAgentConnection(ctx context.Context, agentID, address, version string, at time.Time) error {
	err := r.writeQuiet(ctx, func(q querier) error {
		err := mustAffect(q.ExecContext(ctx, r.q("UPDATE agents SET last_address = ?, last_version = ?, last_connected_at = ?"+
			" WHERE agent_id = ?"), address, version, optMicros(at), agentID))
		if errors.Is(err, store.ErrNotFound) {
			return notFound("agent")
		}
		return err
	})
	return r.fail(err, "update connection of agent %s", agentID)
}

// RevokeAgent implements store.Agents. The time must not be zero: a zero
// RevokedAt means "not revoked".
func (r *repo) RevokeAgent(ctx context.Context, agentID string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("sqlstore: revoke agent %s: zero revocation time", agentID)
	}
	err := r.write(ctx, func(q querier) error {
		// The row matches (and counts as affected) whether or not it was
		// revoked before; only an unrevoked one takes the new time.
		err := mustAffect(q.ExecContext(ctx, r.q("UPDATE agents SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END"+
			" WHERE agent_id = ?"), toMicros(at), agentID))
		if errors.Is(err, store.ErrNotFound) {
			return notFound("agent")
		}
		return err
	})
	return r.fail(err, "revoke agent %s", agentID)
}

// ---- join tokens ----

const joinTokenCols = "token_hash, token_id, endpoint_id, created_by, created_at, expires_at, used_at, used_by"

func scanJoinToken(sc scanner) (store.JoinToken, error) {
	var t store.JoinToken
	var created, expires, used int64
	if err := sc.Scan(&t.TokenHash, &t.TokenID, &t.EndpointID, &t.CreatedBy, &created, &expires, &used, &t.UsedBy); err != nil {
		return store.JoinToken{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = fromOptMicros(created), fromOptMicros(expires), fromOptMicros(used)
	return t, nil
}

// CreateJoinToken implements store.JoinTokens. It returns
// store.ErrConflict when the hash or the id exists.
func (r *repo) CreateJoinToken(ctx context.Context, t store.JoinToken) error {
	err := r.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.q("INSERT INTO join_tokens ("+joinTokenCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
			blob(t.TokenHash), t.TokenID, t.EndpointID, t.CreatedBy, optMicros(t.CreatedAt), optMicros(t.ExpiresAt),
			optMicros(t.UsedAt), t.UsedBy)
		return err
	})
	return r.fail(err, "create join token %s", t.TokenID)
}

// RedeemJoinToken implements store.JoinTokens. One UPDATE that only
// matches an unused, unexpired token decides; the token is then read back
// in the same transaction. The time must not be zero.
func (r *repo) RedeemJoinToken(ctx context.Context, tokenHash []byte, agentID string, at time.Time) (store.JoinToken, error) {
	if at.IsZero() {
		return store.JoinToken{}, errors.New("sqlstore: redeem join token: zero redemption time")
	}
	var t store.JoinToken
	err := r.write(ctx, func(q querier) error {
		now := toMicros(at)
		err := mustAffect(q.ExecContext(ctx, r.q("UPDATE join_tokens SET used_at = ?, used_by = ?"+
			" WHERE token_hash = ? AND used_at = 0 AND expires_at > ?"), now, agentID, blob(tokenHash), now))
		if errors.Is(err, store.ErrNotFound) {
			return notFound("join token unknown, used or expired")
		}
		if err != nil {
			return err
		}
		t, err = scanJoinToken(q.QueryRowContext(ctx, r.q("SELECT "+joinTokenCols+" FROM join_tokens WHERE token_hash = ?"),
			blob(tokenHash)))
		return err
	})
	if err != nil {
		return store.JoinToken{}, r.fail(err, "redeem join token for agent %s", agentID)
	}
	return t, nil
}

// ListJoinTokens implements store.JoinTokens: ordered by creation time,
// then id. Used and expired tokens are listed until deleted.
func (r *repo) ListJoinTokens(ctx context.Context, endpointID string) ([]store.JoinToken, error) {
	query, args := "SELECT "+joinTokenCols+" FROM join_tokens", []any(nil)
	if endpointID != "" {
		query, args = query+" WHERE endpoint_id = ?", []any{endpointID}
	}
	rows, err := r.read().QueryContext(ctx, r.q(query+" ORDER BY created_at, token_id"), args...)
	if err != nil {
		return nil, r.fail(err, "list join tokens")
	}
	defer rows.Close()
	var out []store.JoinToken
	for rows.Next() {
		t, err := scanJoinToken(rows)
		if err != nil {
			return nil, r.fail(err, "list join tokens")
		}
		out = append(out, t)
	}
	return out, r.fail(rows.Err(), "list join tokens")
}

// deleteBefore deletes the rows of table whose column col (fixed
// identifiers) is before t and returns how many it deleted.
func (r *repo) deleteBefore(ctx context.Context, table, col string, t time.Time) (int, error) {
	var n int64
	err := r.writeQuiet(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, r.q("DELETE FROM "+table+" WHERE "+col+" < ?"), toMicros(t))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// DeleteExpiredJoinTokens implements store.JoinTokens: it removes the
// tokens whose ExpiresAt is strictly before the given time, used or not.
func (r *repo) DeleteExpiredJoinTokens(ctx context.Context, before time.Time) (int, error) {
	n, err := r.deleteBefore(ctx, "join_tokens", "expires_at", before)
	if err != nil {
		return 0, r.fail(err, "delete join tokens expired before %s", before.UTC().Format(time.RFC3339))
	}
	return n, nil
}

// ---- presigned-URL uses ----

// RecordPresignUse implements store.PresignUses. The INSERT … ON CONFLICT
// DO NOTHING that changes a row is the first use, and the record is the
// one it stored; otherwise the stored record is read back in the same
// transaction. Outside InTx, a use of a URL whose record this process
// already saw committed is answered from memory (presigncache.go).
func (r *repo) RecordPresignUse(ctx context.Context, u store.PresignUse) (store.PresignUse, bool, error) {
	return r.recordPresignUse(ctx, u, r.writeQuiet)
}

// RecordPresignUseUnsynced implements store.UnsyncedPresignUses: as
// RecordPresignUse, in a group commit that does not wait for the disk
// (unsynced.go). Inside a transaction, or with a context bound to one, it
// is RecordPresignUse.
func (s *Store) RecordPresignUseUnsynced(ctx context.Context, u store.PresignUse) (store.PresignUse, bool, error) {
	r := &s.repo
	if s.unsyncedGroup.h == nil || s.bound(ctx) != nil {
		return r.RecordPresignUse(ctx, u)
	}
	return r.recordPresignUse(ctx, u, func(ctx context.Context, fn func(q querier) error) error {
		return s.groupWriteOn(&s.unsyncedGroup, ctx, fn)
	})
}

// recordPresignUse is RecordPresignUse, its write run by write.
func (r *repo) recordPresignUse(ctx context.Context, u store.PresignUse,
	write func(ctx context.Context, fn func(q querier) error) error) (store.PresignUse, bool, error) {
	// Outside a caller's transaction, a URL whose use this process saw
	// committed is answered from memory (presigncache.go).
	cacheable := r.tx == nil && r.s.bound(ctx) == nil
	now := u.FirstUsedAt
	if now.IsZero() {
		now = time.Now()
	}
	if cacheable {
		if first, ok := r.s.presignUses.get(u.SignatureHash, now); ok {
			return first, false, nil
		}
	}
	var first store.PresignUse
	var isFirst bool
	err := write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, r.q("INSERT INTO presign_uses (signature_hash, source_ip, first_used_at, expires_at)"+
			" VALUES (?, ?, ?, ?) "+r.s.d.onConflictIgnore([]string{"signature_hash"})),
			blob(u.SignatureHash), u.SourceIP, optMicros(u.FirstUsedAt), optMicros(u.ExpiresAt))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		isFirst = n > 0
		if isFirst {
			// The row is u as stored: no read back (one statement
			// less on every tunnel open's path).
			first = store.PresignUse{SignatureHash: append([]byte{}, u.SignatureHash...), SourceIP: u.SourceIP,
				FirstUsedAt: fromOptMicros(optMicros(u.FirstUsedAt)), ExpiresAt: fromOptMicros(optMicros(u.ExpiresAt))}
			return nil
		}
		var used, expires int64
		err = q.QueryRowContext(ctx, r.q("SELECT signature_hash, source_ip, first_used_at, expires_at FROM presign_uses"+
			" WHERE signature_hash = ?"), blob(u.SignatureHash)).Scan(&first.SignatureHash, &first.SourceIP, &used, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			// Only a concurrent delete between the two statements
			// (another process, PostgreSQL) gets here.
			return errors.New("the record vanished before it could be read back")
		}
		first.FirstUsedAt, first.ExpiresAt = fromOptMicros(used), fromOptMicros(expires)
		return err
	})
	if err != nil {
		return store.PresignUse{}, false, r.fail(err, "record presigned URL use from %s", u.SourceIP)
	}
	if cacheable {
		r.s.presignUses.put(first, now)
	}
	return first, isFirst, nil
}

// DeleteExpiredPresignUses implements store.PresignUses: it removes the
// records whose ExpiresAt is strictly before the given time.
func (r *repo) DeleteExpiredPresignUses(ctx context.Context, before time.Time) (int, error) {
	n, err := r.deleteBefore(ctx, "presign_uses", "expires_at", before)
	if err != nil {
		return 0, r.fail(err, "delete presigned URL uses expired before %s", before.UTC().Format(time.RFC3339))
	}
	r.s.presignUses.forget(before)
	return n, nil
}

// ---- events ----

const eventCols = "event_id, event_time, event_source, event_name, read_only, username, access_key_id," +
	" resource_type, resource_name, error_code, tunnel_id, request_id, body"

// AppendEvent implements store.Events. It returns once the event is
// committed: on its own, with SQLite's synchronous=FULL, on disk; inside
// InTx, with the transaction.
func (r *repo) AppendEvent(ctx context.Context, e store.Event) error {
	return r.AppendEvents(ctx, []store.Event{e})
}

// AppendEvents implements store.Events: all in one transaction (one
// commit, one sync), or none.
func (r *repo) AppendEvents(ctx context.Context, evs []store.Event) (err error) {
	if len(evs) == 0 {
		return nil
	}
	insert := r.q("INSERT INTO events (" + eventCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	// A commit of its own that inserts, with synchronous=FULL, syncs the
	// write-ahead log and with it every unsynced commit before it
	// (unsynced.go).
	own := r.tx == nil && r.s.bound(ctx) == nil && r.s.unsynced.durableWriter
	var seq uint64
	if own {
		seq = r.s.unsynced.commits.Load()
	}
	defer func() {
		if own && err == nil {
			r.s.unsynced.cover(seq)
		}
	}()
	err = r.writeQuiet(ctx, func(q querier) error {
		for i := range evs {
			e := &evs[i]
			if _, err := q.ExecContext(ctx, insert, e.EventID, optMicros(e.EventTime), e.EventSource, e.EventName, boolInt(e.ReadOnly),
				e.Username, e.AccessKeyID, e.ResourceType, e.ResourceName, e.ErrorCode, e.TunnelID, e.RequestID, e.Body); err != nil {
				return fmt.Errorf("event %s: %w", e.EventID, err)
			}
			// A tunnel's open or close: its journal row (unclosed.go).
			if err := r.journalEvent(ctx, q, e); err != nil {
				return err
			}
		}
		return nil
	})
	err = r.fail(err, "append %d events", len(evs))
	return err
}

// ListEvents implements store.Events: newest first, events of the same
// time by id, descending. A negative Limit is no limit.
func (r *repo) ListEvents(ctx context.Context, eq store.EventQuery) ([]store.Event, error) {
	var conds []string
	var args []any
	if eq.EventName != "" {
		conds, args = append(conds, "event_name = ?"), append(args, eq.EventName)
	}
	if eq.TunnelID != "" {
		conds, args = append(conds, "tunnel_id = ?"), append(args, eq.TunnelID)
	}
	if !eq.Since.IsZero() {
		conds, args = append(conds, "event_time >= ?"), append(args, toMicros(eq.Since))
	}
	if !eq.Until.IsZero() {
		conds, args = append(conds, "event_time < ?"), append(args, toMicros(eq.Until))
	}
	for _, f := range []struct{ col, v string }{{"event_id", eq.EventID}, {"event_source", eq.EventSource}, {"username", eq.Username},
		{"access_key_id", eq.AccessKeyID}, {"resource_type", eq.ResourceType}, {"resource_name", eq.ResourceName}} {
		if f.v != "" {
			conds, args = append(conds, f.col+" = ?"), append(args, f.v)
		}
	}
	if eq.ReadOnly != nil {
		conds, args = append(conds, "read_only = ?"), append(args, boolInt(*eq.ReadOnly))
	}
	if !eq.AfterTime.IsZero() {
		t := toMicros(eq.AfterTime)
		conds, args = append(conds, "(event_time < ? OR (event_time = ? AND event_id < ?))"), append(args, t, t, eq.AfterID)
	}
	query := "SELECT " + eventCols + " FROM events"
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += " ORDER BY event_time DESC, event_id DESC"
	if eq.Limit > 0 {
		query, args = query+" LIMIT ?", append(args, eq.Limit)
	}
	// The records journalled before this call are listed too
	// (recordjournal.go). Inside a transaction, which holds the write
	// turn the journal's commits need, they are not waited for.
	if j := r.s.journal; j != nil && r.tx == nil && r.s.bound(ctx) == nil {
		if err := j.drain(ctx); err != nil {
			return nil, r.fail(err, "list events")
		}
	}
	// The filters make many distinct statements: run them unprepared.
	rows, err := r.readAdHoc().QueryContext(ctx, r.q(query), args...)
	if err != nil {
		return nil, r.fail(err, "list events")
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		var tm, ro int64
		if err := rows.Scan(&e.EventID, &tm, &e.EventSource, &e.EventName, &ro, &e.Username, &e.AccessKeyID,
			&e.ResourceType, &e.ResourceName, &e.ErrorCode, &e.TunnelID, &e.RequestID, &e.Body); err != nil {
			return nil, r.fail(err, "list events")
		}
		e.EventTime, e.ReadOnly = fromOptMicros(tm), ro != 0
		out = append(out, e)
	}
	return out, r.fail(rows.Err(), "list events")
}
