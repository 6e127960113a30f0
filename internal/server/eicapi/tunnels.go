package eicapi

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/frontdoor"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/wire/awsproto"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// Postern's live-tunnel actions, in the EC2 Instance Connect API (they are
// not AWS's): ListTunnels (IAM ec2-instance-connect:ListTunnels on "*", or
// on the endpoint's ARN when InstanceConnectEndpointId is given) and
// TerminateTunnel (ec2-instance-connect:TerminateTunnel on the tunnel's
// endpoint ARN), which closes the tunnel with 1008 and a reason naming
// who terminated it.
//
// A tunnel id does not name its endpoint, so TerminateTunnel first asks
// whether the caller may terminate tunnels on every endpoint
// (instance-connect-endpoint/*). A caller who may not is answered the
// same AccessDeniedException, naming that resource, for an unknown tunnel
// and for a tunnel on an endpoint it has no permission on: only a caller
// allowed on all endpoints learns that a tunnel does not exist.

// Tunnels is the view of open tunnels: this server's front door alone, or
// every replica's when several share a database.
type Tunnels interface {
	// Tunnels lists the open tunnels.
	Tunnels(ctx context.Context) ([]frontdoor.TunnelInfo, error)
	// Terminate ends the open tunnels that match, with a close code and
	// reason (a tunnel carried by another replica gets code 1008 and
	// message), and returns how many it ended or had ended.
	Terminate(ctx context.Context, match func(frontdoor.TunnelInfo) bool, code int, reason, message string) (int, error)
}

type tunnelJSON struct {
	TunnelID                  string  `json:"TunnelId"`
	Principal                 string  `json:"Principal"`
	SourceIP                  string  `json:"SourceIp"`
	InstanceConnectEndpointID string  `json:"InstanceConnectEndpointId"`
	AgentID                   string  `json:"AgentId"`
	PrivateIPAddress          string  `json:"PrivateIpAddress"`
	RemotePort                int     `json:"RemotePort"`
	StartedAt                 float64 `json:"StartedAt"` // epoch seconds, as AWS JSON timestamps
	BytesIn                   int64   `json:"BytesIn"`
	BytesOut                  int64   `json:"BytesOut"`
	SecondsLeft               int64   `json:"SecondsLeft"`
}

func (s *service) endpointARN(id string) string {
	return "arn:aws:ec2:" + s.cfg.Region + ":" + s.cfg.AccountID + ":instance-connect-endpoint/" + id
}

func (s *service) listTunnels(c *api.Call) (any, error) {
	var req struct {
		InstanceConnectEndpointID string `json:"InstanceConnectEndpointId"`
	}
	if err := c.DecodeJSON(&req); err != nil {
		return nil, err
	}
	resource := "*"
	if req.InstanceConnectEndpointID != "" {
		resource = s.endpointARN(req.InstanceConnectEndpointID)
	}
	if err := c.Authorize("ec2-instance-connect:ListTunnels", resource, nil); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	out := struct {
		Tunnels []tunnelJSON `json:"Tunnels"`
	}{Tunnels: []tunnelJSON{}}
	if s.cfg.Tunnels == nil {
		return out, nil
	}
	list, err := s.cfg.Tunnels.Tunnels(c.Ctx)
	if err != nil {
		return nil, fmt.Errorf("list tunnels: %w", err)
	}
	for _, t := range list {
		if req.InstanceConnectEndpointID != "" && t.EndpointID != req.InstanceConnectEndpointID {
			continue
		}
		out.Tunnels = append(out.Tunnels, tunnelJSON{TunnelID: t.TunnelID, Principal: t.Principal, SourceIP: t.SourceIP,
			InstanceConnectEndpointID: t.EndpointID, AgentID: t.AgentID, PrivateIPAddress: t.Address, RemotePort: t.Port,
			StartedAt: float64(t.Started.UnixMilli()) / 1000, BytesIn: t.BytesIn, BytesOut: t.BytesOut,
			SecondsLeft: int64(max(0, t.Deadline.Sub(now)/time.Second))})
	}
	sort.Slice(out.Tunnels, func(i, j int) bool { return out.Tunnels[i].StartedAt < out.Tunnels[j].StartedAt })
	return out, nil
}

func (s *service) terminateTunnel(c *api.Call) (any, error) {
	var req struct {
		TunnelID string `json:"TunnelId"`
	}
	if err := c.DecodeJSON(&req); err != nil {
		return nil, err
	}
	if req.TunnelID == "" {
		return nil, invalidArgs("TunnelId is required.")
	}
	const action = "ec2-instance-connect:TerminateTunnel"
	anyEndpoint := s.endpointARN("*")
	everywhere, err := c.Decide(action, anyEndpoint, nil)
	if err != nil {
		return nil, err
	}
	if everywhere.Effect == policy.Deny {
		return nil, c.Deny(action, anyEndpoint, everywhere)
	}
	var found *frontdoor.TunnelInfo
	if s.cfg.Tunnels != nil {
		list, err := s.cfg.Tunnels.Tunnels(c.Ctx)
		if err != nil {
			return nil, fmt.Errorf("list tunnels: %w", err)
		}
		for _, t := range list {
			if t.TunnelID == req.TunnelID {
				found = &t
				break
			}
		}
	}
	if found == nil {
		if !everywhere.Allowed {
			return nil, c.Deny(action, anyEndpoint, everywhere)
		}
		return nil, awsproto.Errorf(http.StatusBadRequest, "ResourceNotFoundException", "No open tunnel %s.", truncate(req.TunnelID))
	}
	resource := s.endpointARN(found.EndpointID)
	dec, err := c.Decide(action, resource, nil)
	if err != nil {
		return nil, err
	}
	if !dec.Allowed {
		if !everywhere.Allowed {
			return nil, c.Deny(action, anyEndpoint, everywhere)
		}
		return nil, c.Deny(action, resource, dec)
	}
	n, err := s.cfg.Tunnels.Terminate(c.Ctx, func(t frontdoor.TunnelInfo) bool { return t.TunnelID == req.TunnelID },
		wsframe.ClosePolicyViolation, tunnelproto.CodeRevoked, "The tunnel was terminated by "+c.Principal.ARN)
	if err != nil {
		return nil, fmt.Errorf("terminate tunnel %s: %w", req.TunnelID, err)
	}
	return struct {
		TunnelID   string `json:"TunnelId"`
		Terminated bool   `json:"Terminated"`
	}{req.TunnelID, n > 0}, nil
}
