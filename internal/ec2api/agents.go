package ec2api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/eice"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/tunnelproto"
)

// Postern's endpoint-agent actions, in the EC2 API (they are not AWS's):
//
//   - CreateEndpointJoinToken (InstanceConnectEndpointId, ExpiresInSeconds)
//     makes a single-use, short-lived join token for a new agent of the
//     endpoint; IAM action ec2:CreateEndpointJoinToken on the endpoint.
//   - DescribeEndpointAgents (InstanceConnectEndpointId optional) lists the
//     agents that joined, with their connection; ec2:DescribeEndpointAgents
//     on the endpoint, or on "*" when listing every endpoint's agents.
//   - RevokeEndpointAgent (AgentId) revokes an agent for good: its link and
//     tunnels close, and its network interface leaves the endpoint;
//     ec2:RevokeEndpointAgent on the endpoint.

// AgentStatus is the live state of a connected agent.
type AgentStatus struct {
	AgentID, Name, Version, Address string
	ConnectedSince                  time.Time
	Tunnels                         int
	Draining, Embedded              bool
}

// AgentDirectory is the tunnel side's view of agents (the relay).
type AgentDirectory interface {
	// ConnectedAgents lists the connected agents of an endpoint ("" for
	// all), by agent id.
	ConnectedAgents(endpointID string) []AgentStatus
	// DisconnectAgent closes a revoked agent's link and tunnels.
	DisconnectAgent(agentID, message string) bool
	// EndpointDeleting tells the tunnel side that an endpoint is being
	// deleted: it disconnects the endpoint's agents and lets them leave.
	EndpointDeleting(endpointID string)
}

// Join token lifetimes.
const (
	DefaultJoinTokenTTL = 15 * time.Minute
	maxJoinTokenTTL     = 24 * time.Hour
	minJoinTokenTTL     = time.Minute
)

type joinTokenResult struct {
	JoinToken                 string `xml:"joinToken"`
	JoinTokenID               string `xml:"joinTokenId"`
	InstanceConnectEndpointID string `xml:"instanceConnectEndpointId"`
	ExpiresAt                 string `xml:"expiresAt"`
	Server                    string `xml:"server"`
}

// createJoinToken is CreateEndpointJoinToken.
func (s *service) createJoinToken(c *api.Call) (any, error) {
	id, err := requiredID(c.Params, "InstanceConnectEndpointId", kindEndpoint)
	if err != nil {
		return nil, err
	}
	ttl := s.cfg.JoinTokenTTL
	if ttl <= 0 {
		ttl = DefaultJoinTokenTTL
	}
	if c.Params.Has("ExpiresInSeconds") {
		n, err := c.Params.Int("ExpiresInSeconds", 0, int64(minJoinTokenTTL/time.Second), int64(maxJoinTokenTTL/time.Second))
		if err != nil {
			return nil, err
		}
		ttl = time.Duration(n) * time.Second
	}
	e, err := getLiveEndpoint(ctx(c), s.st, id)
	if err != nil {
		return nil, s.hideMissing(c, err, id, s.endpointIDCheck("ec2:CreateEndpointJoinToken", id))
	}
	if err := s.authorizeAndDryRun(c, s.endpointCheck("ec2:CreateEndpointJoinToken", e)); err != nil {
		return nil, err
	}
	if e.State == eice.DeleteInProgress || e.State == eice.CreateFailed || e.State == eice.DeleteFailed {
		return nil, badRequest(codeIncorrectState, "The instance connect endpoint '%s' is in state %s; agents cannot join it.", id, e.State)
	}
	if s.cfg.JoinServer == "" || s.cfg.JoinCAPin == "" {
		return nil, badRequest("UnsupportedOperation", "This server has no agent address configured; join tokens are unavailable.")
	}
	secretBytes := make([]byte, 32)
	if _, err := rand.Read(secretBytes); err != nil {
		return nil, fmt.Errorf("ec2api: join token secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(secretBytes)
	sum := sha256.Sum256([]byte(secret))
	now := s.now()
	t := store.JoinToken{TokenHash: sum[:], TokenID: s.cfg.IDs("ejt"), EndpointID: id, CreatedBy: c.Principal.ARN,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.st.CreateJoinToken(ctx(c), t); err != nil {
		return nil, storeErr(err, "create join token for %s", id)
	}
	c.Logger.LogAttrs(ctx(c), slog.LevelInfo, "endpoint join token created", slog.String("endpoint", id),
		slog.String("token_id", t.TokenID), slog.String("principal", c.Principal.ARN), slog.Duration("ttl", ttl))
	tok := tunnelproto.JoinToken{Server: s.cfg.JoinServer, CAPin: s.cfg.JoinCAPin, EndpointID: id, Secret: secret}
	return joinTokenResult{JoinToken: tok.Encode(), JoinTokenID: t.TokenID, InstanceConnectEndpointID: id,
		ExpiresAt: t.ExpiresAt.UTC().Format(timeFormat), Server: s.cfg.JoinServer}, nil
}

type agentXML struct {
	AgentID                   string `xml:"agentId"`
	InstanceConnectEndpointID string `xml:"instanceConnectEndpointId"`
	Name                      string `xml:"name"`
	State                     string `xml:"state"` // connected, disconnected, draining, revoked
	Embedded                  bool   `xml:"embedded"`
	Address                   string `xml:"address,omitempty"`
	Version                   string `xml:"version,omitempty"`
	ConnectedSince            string `xml:"connectedSince,omitempty"`
	LastConnectedAt           string `xml:"lastConnectedAt,omitempty"`
	Tunnels                   int    `xml:"tunnels"`
	CreatedAt                 string `xml:"createdAt"`
	CreatedBy                 string `xml:"createdBy,omitempty"`
	RevokedAt                 string `xml:"revokedAt,omitempty"`
}

type describeAgentsResult struct {
	Agents []agentXML `xml:"endpointAgentSet>item"`
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

// describeAgents is DescribeEndpointAgents.
func (s *service) describeAgents(c *api.Call) (any, error) {
	endpointID := c.Params.Get("InstanceConnectEndpointId")
	if endpointID != "" {
		id, err := requiredID(c.Params, "InstanceConnectEndpointId", kindEndpoint)
		if err != nil {
			return nil, err
		}
		e, err := getLiveEndpoint(ctx(c), s.st, id)
		if err != nil {
			return nil, s.hideMissing(c, err, id, s.endpointIDCheck("ec2:DescribeEndpointAgents", id))
		}
		if err := s.authorizeAndDryRun(c, s.endpointCheck("ec2:DescribeEndpointAgents", e)); err != nil {
			return nil, err
		}
	} else if err := s.authorizeAndDryRun(c, check{action: "ec2:DescribeEndpointAgents", resource: "*"}); err != nil {
		return nil, err
	}
	agents, err := s.st.ListAgents(ctx(c), endpointID)
	if err != nil {
		return nil, storeErr(err, "list agents")
	}
	live := map[string]AgentStatus{}
	if s.cfg.Agents != nil {
		for _, a := range s.cfg.Agents.ConnectedAgents(endpointID) {
			live[a.AgentID] = a
		}
	}
	out := describeAgentsResult{Agents: []agentXML{}}
	for _, a := range agents {
		x := agentXML{AgentID: a.AgentID, InstanceConnectEndpointID: a.EndpointID, Name: a.Name, State: "disconnected",
			Address: a.LastAddress, Version: a.LastVersion, LastConnectedAt: fmtTime(a.LastConnectedAt),
			CreatedAt: fmtTime(a.CreatedAt), CreatedBy: a.CreatedBy, RevokedAt: fmtTime(a.RevokedAt)}
		if l, ok := live[a.AgentID]; ok {
			x.State, x.Address, x.Version, x.Tunnels, x.Embedded = "connected", l.Address, l.Version, l.Tunnels, l.Embedded
			x.ConnectedSince = fmtTime(l.ConnectedSince)
			if l.Name != "" {
				x.Name = l.Name
			}
			if l.Draining {
				x.State = "draining"
			}
		}
		if !a.RevokedAt.IsZero() {
			x.State = "revoked"
		}
		out.Agents = append(out.Agents, x)
	}
	return out, nil
}

type revokeAgentResult struct {
	Return bool     `xml:"return"`
	Agent  agentXML `xml:"endpointAgent"`
}

// revokeAgent is RevokeEndpointAgent.
//
// An agent id does not name its endpoint, so, as TerminateTunnel does
// for a tunnel id, a caller is told that an agent does not exist only
// when it may revoke agents on every endpoint (instance-connect-endpoint/*,
// or every subnet). A caller who may not is answered the denial on
// instance-connect-endpoint/* both for an unknown agent and for an agent
// of an endpoint it has no permission on.
func (s *service) revokeAgent(c *api.Call) (any, error) {
	const action = "ec2:RevokeEndpointAgent"
	agentID, err := c.Params.Required("AgentId")
	if err != nil {
		return nil, err
	}
	if _, err := dryRun(c); err != nil {
		return nil, err
	}
	everywhere := s.endpointIDCheck(action, "*")
	a, err := s.st.GetAgent(ctx(c), agentID)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.authorize(c, everywhere); err != nil {
			return nil, err
		}
		return nil, badRequest("InvalidAgentId.NotFound", "The endpoint agent ID '%s' does not exist.", agentID)
	}
	if err != nil {
		return nil, storeErr(err, "get agent %s", agentID)
	}
	e, err := s.st.GetEndpoint(ctx(c), a.EndpointID)
	chk := check{action: action, resource: s.arn(kindEndpoint, a.EndpointID)}
	if err == nil {
		chk = s.endpointCheck(action, e)
	}
	if err := s.authorize(c, chk); err != nil {
		if !asAWS(err) {
			return nil, err
		}
		// Denied on the agent's endpoint: unless the caller may revoke
		// everywhere (and so learns of unknown agents anyway), the denial
		// names every endpoint, as for an unknown agent.
		if everyErr := s.authorize(c, everywhere); everyErr != nil {
			return nil, everyErr
		}
		return nil, err
	}
	if err := honourDryRun(c); err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.st.RevokeAgent(ctx(c), agentID, now); err != nil {
		return nil, storeErr(err, "revoke agent %s", agentID)
	}
	if s.cfg.Agents != nil {
		// Once the revocation is committed (the call's transaction), so
		// that the agent cannot reconnect before it is on record.
		by := c.Principal.ARN
		store.AfterCommit(ctx(c), func() { s.cfg.Agents.DisconnectAgent(agentID, "the endpoint agent "+agentID+" was revoked by "+by) })
	}
	if err := s.hooks().AgentLeft(ctx(c), a.EndpointID, agentID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, storeErr(err, "remove agent %s from its endpoint", agentID)
	}
	c.Logger.LogAttrs(ctx(c), slog.LevelInfo, "endpoint agent revoked", slog.String("agent", agentID),
		slog.String("endpoint", a.EndpointID), slog.String("principal", c.Principal.ARN))
	a.RevokedAt = now
	return revokeAgentResult{Return: true, Agent: agentXML{AgentID: a.AgentID, InstanceConnectEndpointID: a.EndpointID,
		Name: a.Name, State: "revoked", CreatedAt: fmtTime(a.CreatedAt), CreatedBy: a.CreatedBy, RevokedAt: fmtTime(now),
		LastConnectedAt: fmtTime(a.LastConnectedAt)}}, nil
}

func (s *service) hooks() *Endpoints { return &Endpoints{st: s.st, now: s.cfg.Now} }

// AgentJoinedIn is AgentJoined inside the caller's transaction tx.
func (h *Endpoints) AgentJoinedIn(ctx context.Context, tx store.Repo, endpointID, eniID string) error {
	if eniID == "" {
		return errors.New("ec2api: AgentJoined needs a network interface id")
	}
	e, err := tx.GetEndpoint(ctx, endpointID)
	if err != nil {
		return fmt.Errorf("ec2api: get endpoint %s: %w", endpointID, err)
	}
	changed, err := agentJoined(&e, endpointID, eniID)
	if err != nil || !changed {
		return err
	}
	if err := tx.UpdateEndpoint(ctx, e); err != nil {
		return fmt.Errorf("ec2api: update endpoint %s: %w", endpointID, err)
	}
	return nil
}

// agentJoined applies an agent's joining to an endpoint record.
func agentJoined(e *store.Endpoint, endpointID, eniID string) (bool, error) {
	switch {
	case e.State == eice.CreateInProgress:
		if !eice.CanTransition(e.State, eice.CreateComplete) {
			return false, fmt.Errorf("%w: %s → %s", ErrInvalidTransition, e.State, eice.CreateComplete)
		}
		e.State, e.StateMessage = eice.CreateComplete, ""
	case eice.Usable(e.State):
	default:
		return false, fmt.Errorf("%w: agent cannot join endpoint %s in state %s", ErrInvalidTransition, endpointID, e.State)
	}
	if !slices.Contains(e.NetworkInterfaceIDs, eniID) {
		e.NetworkInterfaceIDs = append(slices.Clone(e.NetworkInterfaceIDs), eniID)
	}
	return true, nil
}

// LocalNetwork is the network of the one-machine run: a VPC holding
// 127.0.0.0/8 (the machine's loopback), a subnet, this machine registered
// as an instance at 127.0.0.1, and an endpoint served by the server's
// embedded agent.
type LocalNetwork struct {
	VpcID, SubnetID, GroupID, InstanceID, EndpointID, AgentID string
	Vpc                                                       store.Vpc
	// Created is true when this call made the network.
	Created bool
}

// Settings keys of the local network.
const (
	settingLocalEndpoint = "local_endpoint"
	settingLocalAgent    = "local_agent"
	settingLocalInstance = "local_instance"
	// LocalCIDR is the local network's VPC and subnet.
	LocalCIDR = "127.0.0.0/8"
	// LocalAddress is where the local instance is.
	LocalAddress = "127.0.0.1"
)

// EnsureLocalNetwork makes the local network on first call and returns it
// afterwards. When the operator deleted its endpoint, Endpoint is "".
func EnsureLocalNetwork(ctx context.Context, cfg Config) (LocalNetwork, error) {
	s, err := newService(cfg)
	if err != nil {
		return LocalNetwork{}, err
	}
	var ln LocalNetwork
	err = s.st.InTx(ctx, func(tx store.Repo) error {
		ln = LocalNetwork{} // InTx may run this again after a serialization failure
		ep, err := tx.GetSetting(ctx, settingLocalEndpoint)
		if err == nil {
			ln.EndpointID = ep
			ln.AgentID, _ = tx.GetSetting(ctx, settingLocalAgent)
			ln.InstanceID, _ = tx.GetSetting(ctx, settingLocalInstance)
			e, err := tx.GetEndpoint(ctx, ep)
			if err != nil || e.State == eice.DeleteComplete || e.State == eice.DeleteInProgress {
				ln.EndpointID = "" // the operator deleted it: leave it so
				return nil
			}
			ln.VpcID, ln.SubnetID = e.VpcID, e.SubnetID
			ln.Vpc, err = tx.GetVpc(ctx, e.VpcID)
			return err
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := s.now()
		ln.Created = true
		vpc := store.Vpc{VpcID: s.newID(kindVpc), CidrBlock: LocalCIDR, State: stateAvailable, CreateDate: now}
		if err := tx.CreateVpc(ctx, vpc); err != nil {
			return err
		}
		if err := s.createDefaultGroup(ctx, tx, vpc, now); err != nil {
			return err
		}
		g, err := tx.GetSecurityGroupByName(ctx, vpc.VpcID, defaultGroupName)
		if err != nil {
			return err
		}
		zones := s.zones()
		sn := store.Subnet{SubnetID: s.newID(kindSubnet), VpcID: vpc.VpcID, CidrBlock: LocalCIDR, AvailabilityZone: zones[0],
			AvailabilityZoneID: s.azID(zones[0]), State: stateAvailable, CreateDate: now}
		if err := tx.CreateSubnet(ctx, sn); err != nil {
			return err
		}
		inst := store.Instance{InstanceID: s.newID(kindInstance), SubnetID: sn.SubnetID, VpcID: vpc.VpcID, PrivateIPAddress: LocalAddress,
			AvailabilityZone: sn.AvailabilityZone, State: "running", SecurityGroupIDs: []string{g.GroupID}, LaunchTime: now}
		if err := tx.CreateInstance(ctx, inst); err != nil {
			return err
		}
		id := s.newID(kindEndpoint)
		e := store.Endpoint{EndpointID: id, ARN: s.arn(kindEndpoint, id), OwnerID: s.cfg.AccountID, State: eice.CreateInProgress,
			DNSName: s.cfg.DNSName, FipsDNSName: s.cfg.DNSName, SubnetID: sn.SubnetID, VpcID: vpc.VpcID,
			AvailabilityZone: sn.AvailabilityZone, AvailabilityZoneID: sn.AvailabilityZoneID, IPAddressType: "ipv4",
			SecurityGroupIDs: []string{g.GroupID}, NetworkInterfaceIDs: []string{}, CreatedAt: now}
		if err := tx.CreateEndpoint(ctx, e); err != nil {
			return err
		}
		agentID := s.cfg.IDs("eni")
		if err := tx.CreateAgent(ctx, store.Agent{AgentID: agentID, EndpointID: id, Name: "embedded",
			KeyFingerprint: "embedded:" + id, CreatedAt: now, CreatedBy: "postern server"}); err != nil {
			return err
		}
		if err := (&Endpoints{st: s.st, now: s.cfg.Now}).AgentJoinedIn(ctx, tx, id, agentID); err != nil {
			return err
		}
		for k, v := range map[string]string{settingLocalEndpoint: id, settingLocalAgent: agentID, settingLocalInstance: inst.InstanceID} {
			if err := tx.PutSetting(ctx, k, v); err != nil {
				return err
			}
		}
		for rid, name := range map[string]string{vpc.VpcID: "postern-local", sn.SubnetID: "postern-local", inst.InstanceID: "this machine", id: "postern-local"} {
			if err := tx.SetTags(ctx, rid, []store.Tag{{Key: "Name", Value: name}}); err != nil {
				return err
			}
		}
		ln = LocalNetwork{VpcID: vpc.VpcID, SubnetID: sn.SubnetID, GroupID: g.GroupID, InstanceID: inst.InstanceID,
			EndpointID: id, AgentID: agentID, Vpc: vpc, Created: true}
		return nil
	})
	if err != nil {
		return LocalNetwork{}, fmt.Errorf("ec2api: local network: %w", err)
	}
	return ln, nil
}

// SyncDNSNames sets every live endpoint's dnsName to name (the server's
// public host, with its port when that is not 443), so that endpoints
// follow a change of address.
func SyncDNSNames(ctx context.Context, st store.Store, name string) (int, error) {
	n := 0
	err := st.InTx(ctx, func(tx store.Repo) error {
		n = 0 // InTx may run this again after a serialization failure
		eps, err := tx.ListEndpoints(ctx)
		if err != nil {
			return err
		}
		for _, e := range eps {
			if e.DNSName == name || e.State == eice.DeleteComplete {
				continue
			}
			e.DNSName, e.FipsDNSName = name, name
			if err := tx.UpdateEndpoint(ctx, e); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
