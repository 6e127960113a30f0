package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/tunnelproto"
)

// Replicas on one PostgreSQL database find each other through the store:
// each records itself (id, replica_address) every heartbeat and reads
// the replicas seen within three heartbeats. The relay tells agents the
// list, and agents keep a link to every replica, so that whichever replica
// a client reaches can route its tunnel. On SQLite the server runs alone
// and announces nothing.
//
// Why agents link to every replica rather than replicas forwarding a
// tunnel to the replica that holds the agent's link (Teleport's proxy
// peering): the data path stays one hop (client → replica → agent), as
// fast as a single server; replicas need no trust or connections between
// each other, only the database; each link is authenticated as any agent
// link (the agent's key as TLS client certificate, the pinned CA), so a
// replica needs no new credential to reach an agent; and a replica that
// dies takes only its own tunnels with it. The cost is one idle link per
// agent and replica (a few KiB on each side) and one heartbeat write per
// replica every few seconds.

// defaultReplicaHeartbeat is how often a replica announces itself.
const defaultReplicaHeartbeat = 5 * time.Second

// replicated reports whether other replicas may share the store.
func (s *Server) replicated() bool {
	_, ok := s.Store.(*sqlstore.PostgresStore)
	return ok
}

func (s *Server) heartbeat() time.Duration {
	if s.Config.ReplicaHeartbeat > 0 {
		return s.Config.ReplicaHeartbeat
	}
	return defaultReplicaHeartbeat
}

func newReplicaID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "r-" + hex.EncodeToString(b)
}

// announce records this replica and hands the live list to the relay, once
// now and then every heartbeat until stop is closed.
func (s *Server) announce(ctx context.Context) {
	s.announceMu.Lock()
	defer s.announceMu.Unlock()
	if s.stopping.Load() {
		return // Shutdown removed the record; do not bring it back
	}
	now := time.Now().UTC()
	if err := s.Store.PutReplica(ctx, store.Replica{ReplicaID: s.replicaID, Advertise: s.replicaAddress(), StartedAt: s.startedAt, LastSeen: now}); err != nil {
		s.logger.Warn("could not announce this replica", "replica", s.replicaID, "error", err)
	}
	rs, err := s.Store.ListReplicas(ctx, now.Add(-3*s.heartbeat()))
	if err != nil {
		s.logger.Warn("could not list the replicas", "error", err)
		return
	}
	list := make([]tunnelproto.Replica, 0, len(rs))
	self := false
	for _, r := range rs {
		rp := tunnelproto.Replica{ID: r.ReplicaID, Addr: r.Advertise}
		if !tunnelproto.ValidReplica(rp) {
			s.logger.Warn("ignoring a replica with an invalid id or address", "replica", r.ReplicaID, "advertise", r.Advertise)
			continue
		}
		self = self || r.ReplicaID == s.replicaID
		list = append(list, rp)
	}
	if !self { // the write failed: agents linked here still count this one
		list = append(list, tunnelproto.Replica{ID: s.replicaID, Addr: s.replicaAddress()})
	}
	s.relay.SetReplicas(list)
	ids := make([]string, len(list))
	for i, r := range list {
		ids[i] = r.ID
	}
	s.pub.setLive(ids)
	// The tunnels of replicas that vanished without withdrawing (killed,
	// cut off) ended with them.
	if n, err := s.Store.DeleteLiveTunnels(ctx, ids); err != nil {
		s.logger.Warn("could not remove the tunnels of vanished replicas", "error", err)
	} else if n > 0 {
		s.logger.Info("removed the tunnels of vanished replicas", "tunnels", n)
	}
}

// announceLoop runs announce every heartbeat, and when another replica
// says it joined or left, until stop is closed.
func (s *Server) announceLoop(stop <-chan struct{}) {
	t := time.NewTicker(s.heartbeat())
	defer t.Stop()
	var changed <-chan struct{}
	if ps, ok := s.Store.(*sqlstore.PostgresStore); ok {
		changed = ps.ReplicasChanged()
	}
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-changed:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.heartbeat())
		s.announce(ctx)
		cancel()
	}
}

// withdraw removes this replica's record (Shutdown) so that agents stop
// linking to it, and tells the others.
func (s *Server) withdraw(ctx context.Context) error {
	s.announceMu.Lock()
	defer s.announceMu.Unlock()
	if err := s.Store.DeleteReplica(ctx, s.replicaID); err != nil {
		return err
	}
	return s.notifyReplicas(ctx)
}

// notifyReplicas tells the other replicas to read the replica list now
// (they would at their next heartbeat otherwise).
func (s *Server) notifyReplicas(ctx context.Context) error {
	if ps, ok := s.Store.(*sqlstore.PostgresStore); ok {
		return ps.NotifyReplicas(ctx)
	}
	return nil
}
