package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/postern/postern/internal/eicapi"
	"github.com/postern/postern/internal/frontdoor"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/tunnelproto"
	"github.com/postern/postern/internal/wsframe"
)

// Live tunnels across replicas. Each replica carries the tunnels that
// reached it; on PostgreSQL it publishes them in the store's live_tunnels
// table every tunnelSyncInterval (new tunnels, ended ones, and byte counts
// at most every tunnelBytesInterval), so that ListTunnels on any replica
// shows every replica's tunnels. TerminateTunnel for a tunnel another
// replica carries records the request in its row; the carrying replica
// reads the requests of its tunnels at each sync and ends them, so a
// termination takes effect within one sync interval plus a transaction.
// Revocation needs no table: every replica re-checks its own tunnels when
// the store's change count moves, and the PostgreSQL change feed moves it
// on every replica's writes. Rows of a replica that vanished (its record
// older than three heartbeats) are removed by the others' announce.

const (
	tunnelSyncInterval  = 250 * time.Millisecond
	tunnelBytesInterval = 2 * time.Second
	// tunnelRepublish re-puts every tunnel now and then, in case its row
	// was swept while this replica's record looked stale.
	tunnelRepublish = 30 * time.Second
)

// tunnelView is what ListTunnels and TerminateTunnel act on.
func (s *Server) tunnelView() eicapi.Tunnels {
	if s.replicaID != "" {
		return replicaTunnels{s}
	}
	return localTunnels{s.frontdoor}
}

// localTunnels is the eicapi.Tunnels of a server that runs alone.
type localTunnels struct{ fd *frontdoor.FrontDoor }

func (l localTunnels) Tunnels(context.Context) ([]frontdoor.TunnelInfo, error) {
	return l.fd.Tunnels(), nil
}

func (l localTunnels) Terminate(_ context.Context, match func(frontdoor.TunnelInfo) bool, code int, reason, message string) (int, error) {
	return l.fd.Terminate(match, code, reason, message), nil
}

// published is what this replica last wrote of one of its tunnels.
type published struct {
	bytesIn, bytesOut int64
	at                time.Time
}

// tunnelPublisher keeps this replica's rows of live_tunnels.
type tunnelPublisher struct {
	mu        sync.Mutex // one sync at a time
	rows      map[string]published
	lastFull  time.Time
	liveMu    sync.Mutex
	live      []string // ids of the replicas seen alive at the last announce
	terminals map[string]bool
}

// replicaTunnels is the eicapi.Tunnels of a replica: its own tunnels from
// the front door (live byte counts) and the other live replicas' from the
// store (byte counts as of their last sync).
type replicaTunnels struct{ s *Server }

func (r replicaTunnels) remote(ctx context.Context) ([]store.LiveTunnel, error) {
	rows, err := r.s.Store.ListLiveTunnels(ctx)
	if err != nil {
		return nil, err
	}
	live := r.s.pub.liveReplicas()
	out := rows[:0]
	for _, t := range rows {
		if t.ReplicaID != r.s.replicaID && slices.Contains(live, t.ReplicaID) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (r replicaTunnels) Tunnels(ctx context.Context) ([]frontdoor.TunnelInfo, error) {
	out := r.s.frontdoor.Tunnels()
	rows, err := r.remote(ctx)
	if err != nil {
		return nil, fmt.Errorf("other replicas' tunnels: %w", err)
	}
	for _, t := range rows {
		out = append(out, infoOf(t))
	}
	return out, nil
}

func (r replicaTunnels) Terminate(ctx context.Context, match func(frontdoor.TunnelInfo) bool, code int, reason, message string) (int, error) {
	n := r.s.frontdoor.Terminate(match, code, reason, message)
	rows, err := r.remote(ctx)
	if err != nil {
		return n, fmt.Errorf("other replicas' tunnels: %w", err)
	}
	for _, t := range rows {
		if !match(infoOf(t)) {
			continue
		}
		switch err := r.s.Store.RequestTunnelTermination(ctx, t.TunnelID, message); {
		case err == nil:
			n++
		case errors.Is(err, store.ErrNotFound): // it ended meanwhile
		default:
			return n, fmt.Errorf("ask replica %s to end tunnel %s: %w", t.ReplicaID, t.TunnelID, err)
		}
	}
	return n, nil
}

func infoOf(t store.LiveTunnel) frontdoor.TunnelInfo {
	return frontdoor.TunnelInfo{TunnelID: t.TunnelID, EndpointID: t.EndpointID, AgentID: t.AgentID, Principal: t.Principal,
		SourceIP: t.SourceIP, Address: t.Address, Port: t.Port, Started: t.Started, Deadline: t.Deadline,
		BytesIn: t.BytesIn, BytesOut: t.BytesOut}
}

func (p *tunnelPublisher) setLive(ids []string) {
	p.liveMu.Lock()
	p.live = ids
	p.liveMu.Unlock()
}

func (p *tunnelPublisher) liveReplicas() []string {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	return p.live
}

// syncTunnels publishes this replica's tunnels and ends those another
// replica asked to end.
func (s *Server) syncTunnels(ctx context.Context) error {
	p := &s.pub
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rows == nil {
		p.rows = map[string]published{}
	}
	now := time.Now()
	full := now.Sub(p.lastFull) >= tunnelRepublish
	local := s.frontdoor.Tunnels()
	var put []store.LiveTunnel
	here := make(map[string]bool, len(local))
	for _, t := range local {
		here[t.TunnelID] = true
		last, ok := p.rows[t.TunnelID]
		if ok && !full && (last.bytesIn == t.BytesIn && last.bytesOut == t.BytesOut || now.Sub(last.at) < tunnelBytesInterval) {
			continue
		}
		put = append(put, store.LiveTunnel{TunnelID: t.TunnelID, EndpointID: t.EndpointID, AgentID: t.AgentID, Principal: t.Principal,
			SourceIP: t.SourceIP, Address: t.Address, Port: t.Port, Started: t.Started, Deadline: t.Deadline,
			BytesIn: t.BytesIn, BytesOut: t.BytesOut, Updated: now})
	}
	var gone []string
	for id := range p.rows {
		if !here[id] {
			gone = append(gone, id)
		}
	}
	if len(put) == 0 && len(gone) == 0 && len(local) == 0 {
		return nil // nothing carried, so nothing to be asked to end
	}
	terminate, err := s.Store.SyncLiveTunnels(ctx, s.replicaID, put, gone)
	if err != nil {
		return fmt.Errorf("publish live tunnels: %w", err)
	}
	if full {
		p.lastFull = now
	}
	for _, t := range put {
		p.rows[t.TunnelID] = published{bytesIn: t.BytesIn, bytesOut: t.BytesOut, at: now}
	}
	for _, id := range gone {
		delete(p.rows, id)
	}
	for _, t := range terminate {
		if p.terminals[t.TunnelID] {
			continue // already ended; its row goes at the next sync
		}
		if p.terminals == nil {
			p.terminals = map[string]bool{}
		}
		p.terminals[t.TunnelID] = true
		id := t.TunnelID
		if n := s.frontdoor.Terminate(func(i frontdoor.TunnelInfo) bool { return i.TunnelID == id },
			wsframe.ClosePolicyViolation, tunnelproto.CodeRevoked, t.TerminateMessage); n > 0 {
			s.logger.Info("tunnel terminated at another replica's request", "tunnel", id, "reason", t.TerminateMessage)
		}
	}
	for id := range p.terminals {
		if !here[id] {
			delete(p.terminals, id)
		}
	}
	return nil
}

// publishLoop runs syncTunnels every tunnelSyncInterval until stop is
// closed.
func (s *Server) publishLoop(stop <-chan struct{}) {
	t := time.NewTicker(tunnelSyncInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.syncTunnels(ctx)
		cancel()
		switch {
		case err != nil && !failing:
			s.logger.Warn("could not publish this replica's tunnels; other replicas do not see them", "error", err)
		case err == nil && failing:
			s.logger.Info("publishing this replica's tunnels again")
		}
		failing = err != nil
	}
}
