package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/postern/postern/internal/store"
)

// The open tunnels replicas publish (store.LiveTunnels). Schema: migration
// 0007. Writes do not count as changes: nothing caches these rows.

const liveTunnelColumns = "tunnel_id, replica_id, endpoint_id, agent_id, principal, source_ip, address, port, " +
	"started_at, deadline, bytes_in, bytes_out, updated_at, terminate_message"

// SyncLiveTunnels implements store.LiveTunnels.
func (r *repo) SyncLiveTunnels(ctx context.Context, replicaID string, put []store.LiveTunnel, gone []string) ([]store.LiveTunnel, error) {
	var terminate []store.LiveTunnel
	err := r.writeQuiet(ctx, func(q querier) error {
		upsert := r.q("INSERT INTO live_tunnels (" + liveTunnelColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) " +
			r.s.d.onConflictUpdate([]string{"tunnel_id"}, []string{"bytes_in", "bytes_out", "updated_at"}))
		for _, t := range put {
			if _, err := q.ExecContext(ctx, upsert, t.TunnelID, replicaID, t.EndpointID, t.AgentID, t.Principal, t.SourceIP,
				t.Address, t.Port, toMicros(t.Started), toMicros(t.Deadline), t.BytesIn, t.BytesOut, toMicros(t.Updated)); err != nil {
				return fmt.Errorf("put %s: %w", t.TunnelID, err)
			}
		}
		del := r.q("DELETE FROM live_tunnels WHERE tunnel_id = ? AND replica_id = ?")
		for _, id := range gone {
			if _, err := q.ExecContext(ctx, del, id, replicaID); err != nil {
				return fmt.Errorf("delete %s: %w", id, err)
			}
		}
		rows, err := q.QueryContext(ctx, r.q("SELECT "+liveTunnelColumns+" FROM live_tunnels"+
			" WHERE replica_id = ? AND terminate_message IS NOT NULL ORDER BY tunnel_id"), replicaID)
		if err != nil {
			return err
		}
		terminate, err = scanLiveTunnels(rows)
		return err
	})
	return terminate, r.fail(err, "sync live tunnels of %s", replicaID)
}

// ListLiveTunnels implements store.LiveTunnels.
func (r *repo) ListLiveTunnels(ctx context.Context) ([]store.LiveTunnel, error) {
	rows, err := r.read().QueryContext(ctx, r.q("SELECT "+liveTunnelColumns+" FROM live_tunnels ORDER BY started_at, tunnel_id"))
	if err != nil {
		return nil, r.fail(err, "list live tunnels")
	}
	out, err := scanLiveTunnels(rows)
	return out, r.fail(err, "list live tunnels")
}

// RequestTunnelTermination implements store.LiveTunnels.
func (r *repo) RequestTunnelTermination(ctx context.Context, tunnelID, message string) error {
	err := r.writeQuiet(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, r.q("UPDATE live_tunnels SET terminate_message = ? WHERE tunnel_id = ?"), message, tunnelID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	return r.fail(err, "request termination of tunnel %s", tunnelID)
}

// DeleteLiveTunnels implements store.LiveTunnels. A row whose tunnel is
// still in the journal of open tunnels (open_tunnels, carried by the
// row's replica) stays: its byte counts and time are what the recovered
// CloseTunnel record says (UnclosedTunnelsAfter), and CloseUnclosedTunnel
// deletes it with the journal row.
func (r *repo) DeleteLiveTunnels(ctx context.Context, keep []string) (int, error) {
	var n int64
	err := r.writeQuiet(ctx, func(q querier) error {
		query := "DELETE FROM live_tunnels WHERE NOT EXISTS (SELECT 1 FROM open_tunnels o" +
			" WHERE o.tunnel_id = live_tunnels.tunnel_id AND o.carrier = live_tunnels.replica_id)"
		if len(keep) > 0 {
			query += " AND replica_id NOT IN (" + placeholders(len(keep)) + ")"
		}
		res, err := q.ExecContext(ctx, r.q(query), anySlice(keep)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), r.fail(err, "delete live tunnels")
}

func scanLiveTunnels(rows *sql.Rows) ([]store.LiveTunnel, error) {
	defer rows.Close()
	var out []store.LiveTunnel
	for rows.Next() {
		var t store.LiveTunnel
		var started, deadline, updated int64
		var msg sql.NullString
		if err := rows.Scan(&t.TunnelID, &t.ReplicaID, &t.EndpointID, &t.AgentID, &t.Principal, &t.SourceIP, &t.Address, &t.Port,
			&started, &deadline, &t.BytesIn, &t.BytesOut, &updated, &msg); err != nil {
			return nil, err
		}
		t.Started, t.Deadline, t.Updated, t.TerminateMessage = fromMicros(started), fromMicros(deadline), fromMicros(updated), msg.String
		out = append(out, t)
	}
	return out, rows.Err()
}
