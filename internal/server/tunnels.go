package server

import (
	"context"
	"fmt"
	"time"

	"github.com/postern/postern/internal/ec2api"
	"github.com/postern/postern/internal/frontdoor"
	"github.com/postern/postern/internal/identity"
	"github.com/postern/postern/internal/relay"
)

// buildTunnels makes the tunnel side: the relay (agents' links), the
// embedded agent and its local network, and the openTunnel front door.
func (s *Server) buildTunnels(ctx context.Context, authn *identity.Authenticator, authz *identity.Authorizer) error {
	hooks, err := ec2api.NewEndpoints(s.ec2Config())
	if err != nil {
		return err
	}
	s.endpoints = hooks
	if s.replicated() {
		s.replicaID, s.startedAt = newReplicaID(), time.Now().UTC()
	}
	if s.relay, err = relay.New(relay.Config{Store: s.Store, Hooks: hooks, ReplicaID: s.replicaID, Logger: s.logger.With("component", "relay")}); err != nil {
		return err
	}
	if n, err := ec2api.SyncDNSNames(ctx, s.Store, s.DNSName()); err != nil {
		return fmt.Errorf("server: update endpoints' dnsName: %w", err)
	} else if n > 0 {
		s.logger.Info("endpoints now carry the server's address", "dns_name", s.DNSName(), "endpoints", n)
	}
	if s.Config.EmbeddedAgent() {
		ln, err := ec2api.EnsureLocalNetwork(ctx, s.ec2Config())
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
		EndOnSessionExpiry: s.Config.Tunnel.EndOnSessionExpiry, Audit: s.audit, Metrics: s.metrics, Now: s.Config.TunnelClock,
		Logger: s.logger.With("component", "frontdoor"),
	})
	return err
}

// agentDirectory shows the relay to the EC2 API.
type agentDirectory struct{ s *Server }

func (d agentDirectory) ConnectedAgents(endpointID string) []ec2api.AgentStatus {
	var out []ec2api.AgentStatus
	for _, a := range d.s.relay.Connected(endpointID) {
		out = append(out, ec2api.AgentStatus{AgentID: a.AgentID, Name: a.Name, Version: a.Version, Address: a.Address,
			ConnectedSince: a.ConnectedSince, Tunnels: a.Tunnels, Draining: a.Draining, Embedded: a.Embedded})
	}
	return out
}

func (d agentDirectory) DisconnectAgent(agentID, message string) bool {
	return d.s.relay.Disconnect(agentID, true, message)
}

// EndpointDeleting disconnects the endpoint's agents and removes each from
// the endpoint; the last to leave completes the deletion.
func (d agentDirectory) EndpointDeleting(endpointID string) {
	ctx := context.Background()
	d.s.relay.DisconnectEndpoint(endpointID, "The instance connect endpoint was deleted")
	agents, err := d.s.Store.ListAgents(ctx, endpointID)
	if err != nil {
		d.s.logger.Error("list agents of a deleted endpoint", "endpoint", endpointID, "error", err)
		return
	}
	ep, err := d.s.Store.GetEndpoint(ctx, endpointID)
	if err != nil {
		return
	}
	for _, eni := range ep.NetworkInterfaceIDs {
		if err := d.s.endpoints.AgentLeft(ctx, endpointID, eni); err != nil {
			d.s.logger.Error("remove agent from a deleted endpoint", "endpoint", endpointID, "agent", eni, "error", err)
		}
	}
	_ = agents
}
