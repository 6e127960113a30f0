package server

import (
	"context"
	"time"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/replicas"
	"github.com/postern/postern/internal/store"
)

// closeUnclosedTunnels makes the audit trail whole after a crash: the
// tunnels a server carried when it stopped without recording their close
// (killed, crashed, power lost) get a CloseTunnel record (see
// store.TunnelJournal and audit.CloseUnclosedTunnels). began is when this
// process started.
//
// A server alone on its store (SQLite) closes, before it serves, every
// journalled tunnel but its own (reason ServerRestart; end time: the last
// record the store holds from before this start). A replica (PostgreSQL)
// journals its tunnels under its replica id, and its directory of live
// tunnels closes those of the replicas the membership takes for gone
// (reason ReplicaGone; a restarted server is a new replica), each time the
// live replicas change and every livetunnels.UnclosedInterval; a replica
// that left the live ones (one shutting down withdraws, then records the
// close of its tunnels) is kept for livetunnels.WithdrawGrace.
//
// A failure is logged and does not stop the start: a tunnel whose close
// could not be recorded stays in the journal for the next start (alone)
// or sweep (replicas), and the others are closed all the same.
func (s *Server) closeUnclosedTunnels(ctx context.Context, began time.Time) {
	j, ok := s.Store.(store.TunnelJournal)
	if !ok || s.audit == nil {
		return
	}
	if s.members != nil {
		j.SetTunnelCarrier(s.members.ID())
		hb := s.Config.ReplicaHeartbeat
		if hb <= 0 {
			hb = replicas.DefaultHeartbeat
		}
		s.tunnels.SetUnclosedSweep(func(ctx context.Context, live []string) error {
			// A replica seen within three heartbeats is live (as the
			// membership counts), even one that announced itself after
			// live was read.
			n, err := s.audit.CloseUnclosedTunnels(ctx, j, audit.Unclosed{Keep: live,
				SeenSince: time.Now().Add(-3 * hb), Reason: audit.ReasonReplicaGone})
			if n > 0 {
				s.logger.Info("recorded the close of the tunnels of gone replicas", "tunnels", n)
			}
			return err
		})
		return
	}
	last, err := j.LastEventTime(ctx, began)
	if err != nil {
		s.logger.Warn("could not read the last record before this start; the close of tunnels left open is recorded at their open time", "error", err)
	}
	n, err := s.audit.CloseUnclosedTunnels(ctx, j, audit.Unclosed{Keep: []string{j.TunnelCarrier()},
		Reason: audit.ReasonServerRestart, LastAlive: last})
	if n > 0 {
		s.logger.Info("recorded the close of the tunnels the last run left open", "tunnels", n, "ended_by", last)
	}
	if err != nil {
		s.logger.Warn("could not record the close of every tunnel the last run left open; the next start tries again", "error", err)
	}
}
