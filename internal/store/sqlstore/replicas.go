package sqlstore

import (
	"context"
	"time"

	"github.com/postern/postern/internal/store"
)

// The replica registry (store.Replicas). Schema: migration 0006. Writes
// do not count as changes.

// PutReplica implements store.Replicas.
func (r *repo) PutReplica(ctx context.Context, rp store.Replica) error {
	err := r.writeQuiet(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.q("INSERT INTO replicas (replica_id, advertise, started_at, last_seen) VALUES (?, ?, ?, ?) "+
			r.s.d.onConflictUpdate([]string{"replica_id"}, []string{"advertise", "last_seen"})),
			rp.ReplicaID, rp.Advertise, toMicros(rp.StartedAt), toMicros(rp.LastSeen))
		return err
	})
	return r.fail(err, "put replica %s", rp.ReplicaID)
}

// ListReplicas implements store.Replicas.
func (r *repo) ListReplicas(ctx context.Context, seenAfter time.Time) ([]store.Replica, error) {
	rows, err := r.read().QueryContext(ctx, r.q("SELECT replica_id, advertise, started_at, last_seen FROM replicas"+
		" WHERE last_seen > ? ORDER BY replica_id"), toMicros(seenAfter))
	if err != nil {
		return nil, r.fail(err, "list replicas")
	}
	defer rows.Close()
	var out []store.Replica
	for rows.Next() {
		var rp store.Replica
		var started, seen int64
		if err := rows.Scan(&rp.ReplicaID, &rp.Advertise, &started, &seen); err != nil {
			return nil, r.fail(err, "list replicas")
		}
		rp.StartedAt, rp.LastSeen = fromMicros(started), fromMicros(seen)
		out = append(out, rp)
	}
	return out, r.fail(rows.Err(), "list replicas")
}

// DeleteReplica implements store.Replicas.
func (r *repo) DeleteReplica(ctx context.Context, id string) error {
	err := r.writeQuiet(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.q("DELETE FROM replicas WHERE replica_id = ?"), id)
		return err
	})
	return r.fail(err, "delete replica %s", id)
}
