package ec2api

import (
	"errors"
	"log/slog"
	"time"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/store"
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
	if !endpoints.Joinable(e.State) {
		return nil, badRequest(codeIncorrectState, "The instance connect endpoint '%s' is in state %s; agents cannot join it.", id, e.State)
	}
	if s.cfg.JoinServer == "" || s.cfg.JoinCAPin == "" {
		return nil, badRequest("UnsupportedOperation", "This server has no agent address configured; join tokens are unavailable.")
	}
	tok, err := s.eps.IssueJoinToken(ctx(c), endpoints.TokenRequest{EndpointID: id, CreatedBy: c.Principal.ARN, TTL: ttl,
		Server: s.cfg.JoinServer, CAPin: s.cfg.JoinCAPin})
	if err != nil {
		return nil, storeErr(err, "create join token for %s", id)
	}
	t := tok.JoinToken
	c.Logger.LogAttrs(ctx(c), slog.LevelInfo, "endpoint join token created", slog.String("endpoint", id),
		slog.String("token_id", t.TokenID), slog.String("principal", c.Principal.ARN), slog.Duration("ttl", ttl))
	return joinTokenResult{JoinToken: tok.Token, JoinTokenID: t.TokenID, InstanceConnectEndpointID: id,
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
	// Of a connected agent: whether it can connect from clients'
	// addresses (client IP preservation), why not when it cannot, and
	// whether it can send PROXY protocol v2 headers.
	PreserveClientIP        *bool  `xml:"preserveClientIp,omitempty"`
	PreserveClientIPMessage string `xml:"preserveClientIpMessage,omitempty"`
	ProxyProtocolV2         *bool  `xml:"proxyProtocolV2,omitempty"`
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
	live := map[string]endpoints.AgentStatus{}
	for _, a := range s.eps.Connected(endpointID) {
		live[a.AgentID] = a
	}
	out := describeAgentsResult{Agents: []agentXML{}}
	for _, a := range agents {
		x := agentXML{AgentID: a.AgentID, InstanceConnectEndpointID: a.EndpointID, Name: a.Name, State: "disconnected",
			Address: a.LastAddress, Version: a.LastVersion, LastConnectedAt: fmtTime(a.LastConnectedAt),
			CreatedAt: fmtTime(a.CreatedAt), CreatedBy: a.CreatedBy, RevokedAt: fmtTime(a.RevokedAt)}
		if l, ok := live[a.AgentID]; ok {
			x.State, x.Address, x.Version, x.Tunnels, x.Embedded = "connected", l.Address, l.Version, l.Tunnels, l.Embedded
			x.ConnectedSince = fmtTime(l.ConnectedSince)
			x.PreserveClientIP, x.PreserveClientIPMessage, x.ProxyProtocolV2 = &l.PreserveClientIP, l.PreserveProblem, &l.ProxyProtocolV2
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
	if err := s.eps.Revoke(ctx(c), a, c.Principal.ARN, now); err != nil {
		return nil, storeErr(err, "revoke agent %s", agentID)
	}
	c.Logger.LogAttrs(ctx(c), slog.LevelInfo, "endpoint agent revoked", slog.String("agent", agentID),
		slog.String("endpoint", a.EndpointID), slog.String("principal", c.Principal.ARN))
	a.RevokedAt = now
	return revokeAgentResult{Return: true, Agent: agentXML{AgentID: a.AgentID, InstanceConnectEndpointID: a.EndpointID,
		Name: a.Name, State: "revoked", CreatedAt: fmtTime(a.CreatedAt), CreatedBy: a.CreatedBy, RevokedAt: fmtTime(now),
		LastConnectedAt: fmtTime(a.LastConnectedAt)}}, nil
}
