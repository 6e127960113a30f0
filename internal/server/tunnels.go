package server

import (
	"context"
	"fmt"
	"time"

	"github.com/postern/postern/internal/server/ec2api"
	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/server/frontdoor"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/livetunnels"
	"github.com/postern/postern/internal/server/relay"
	"github.com/postern/postern/internal/server/replicas"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// buildTunnels makes the tunnel side: the endpoints' life cycle, the
// replica membership on a shared store (PostgreSQL), the relay (agents'
// links, connected to the life cycle, told of the live replicas), the
// embedded agent and its local network, the openTunnel front door and the
// directory of live tunnels across replicas. New starts the membership
// and the directory's publishing.
func (s *Server) buildTunnels(ctx context.Context, authn *identity.Authenticator, authz *identity.Authorizer) error {
	eps, err := endpoints.New(endpoints.Config{Store: s.Store, Logger: s.logger.With("component", "endpoints")})
	if err != nil {
		return err
	}
	s.endpoints = eps
	replicaID := ""
	if store.IsReplicated(s.Store) {
		s.members = replicas.New(replicas.Config{
			Store: s.Store, Address: s.replicaAddress(), Heartbeat: s.Config.ReplicaHeartbeat, Logger: s.logger,
			OnChange: func(list []tunnelproto.Replica) { s.relay.SetReplicas(list) },
		})
		replicaID = s.members.ID()
	}
	if s.relay, err = relay.New(relay.Config{Store: s.Store, Endpoints: eps, ReplicaID: replicaID, Logger: s.logger.With("component", "relay")}); err != nil {
		return err
	}
	eps.SetLinks(s.relay)
	if n, err := eps.SyncDNSNames(ctx, s.DNSName()); err != nil {
		return fmt.Errorf("server: update endpoints' dnsName: %w", err)
	} else if n > 0 {
		s.logger.Info("endpoints now carry the server's address", "dns_name", s.DNSName(), "endpoints", n)
	}
	// Deletions a crash left in delete-in-progress: with a store no other
	// server shares none is still being carried out, so they finish now;
	// on a shared one the sweep finishes those still there after
	// endpoints.StaleDeletion (this call counts from now). A failure here
	// does not stop the start: the sweep tries again.
	bound := time.Duration(0)
	if store.IsReplicated(s.Store) {
		bound = endpoints.StaleDeletion
	}
	if _, err := eps.FinishStaleDeletions(ctx, time.Now(), bound); err != nil {
		s.logger.Warn("finishing interrupted endpoint deletions", "error", err)
	}
	if s.Config.EmbeddedAgent() {
		zone, zoneID := ec2api.LocalZone(s.Config.Region)
		ln, err := eps.EnsureLocalNetwork(ctx, endpoints.LocalPlace{AccountID: s.AccountID, Region: s.Config.Region,
			DNSName: s.DNSName(), AvailabilityZone: zone, AvailabilityZoneID: zoneID})
		if err != nil {
			return err
		}
		s.Local = ln
		if a, err := s.Store.GetAgent(ctx, ln.AgentID); err == nil && !a.RevokedAt.IsZero() {
			s.logger.Info("the embedded agent was revoked; not serving the local endpoint", "agent", ln.AgentID)
		} else if ln.EndpointID != "" {
			if err := s.relay.AddLocal(ln.EndpointID, ln.AgentID, "embedded", relay.LoopbackPolicy(ln.Vpc), 10*time.Second); err != nil {
				return err
			}
		}
	}
	s.metrics.GaugeFunc("postern_agents_connected", "Endpoint agents connected now (the embedded one included).",
		func() float64 { return float64(len(s.relay.Connected(""))) })
	ports, err := frontdoor.ParsePorts(s.Config.Tunnel.Ports)
	if err != nil {
		return fmt.Errorf("server: tunnel.ports: %w", err)
	}
	s.frontdoor, err = frontdoor.New(frontdoor.Config{
		Store: s.Store, Authenticator: authn, Authorizer: authz, Relay: s.relay,
		AccountID: s.AccountID, Region: s.Config.Region, Ports: ports,
		MaxDuration: time.Duration(s.Config.Tunnel.MaxDurationSeconds) * time.Second, MaxURLLifetime: time.Duration(s.Config.Tunnel.MaxURLLifetimeSeconds) * time.Second,
		Concurrency: s.Config.Tunnel.ConcurrencyPerEndpoint, Replay: s.Config.Tunnel.Replay,
		CloseGrace:         time.Duration(s.Config.Tunnel.CloseGraceSeconds) * time.Second,
		EndOnSessionExpiry: s.Config.Tunnel.EndOnSessionExpiry, Audit: s.audit, Metrics: s.metrics, Now: s.Config.TunnelClock,
		Logger: s.logger.With("component", "frontdoor"),
	})
	if err != nil {
		return err
	}
	dir := livetunnels.Config{FrontDoor: s.frontdoor, Logger: s.logger}
	if s.members != nil {
		dir.ReplicaID, dir.Store, dir.Live = replicaID, s.Store, s.members.Live
	}
	s.tunnels, err = livetunnels.New(dir)
	return err
}
