package relay

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// VPC networks of linked agents. An agent dials only inside the networks
// of its VPC, as it was told when its link started (HeaderVPCCIDRs). When
// they change while it is linked (AssociateVpcCidrBlock or
// DisassociateVpcCidrBlock, through any replica), syncVPCs, run with the
// revocation checks whenever the store changed, tells it the new list
// (tunnelproto.ControlVPC) without breaking its link or its tunnels.
// Likewise whether its endpoint preserves client addresses
// (ModifyInstanceConnectEndpoint's PreserveClientIp; told in the link's
// answer, then by tunnelproto.ControlPreserveClientIP), so that an agent
// whose host cannot preserve them warns when its endpoint starts asking.
// Every replica runs the same check for the agents linked to it, so the
// agent hears it on each of its links (it warns once per change).

// syncVPCs sends every linked remote agent whose VPC's networks differ
// from what it was told the current list: one read of each endpoint and
// VPC, and a send only to agents whose list changed.
func (r *Relay) syncVPCs() {
	r.mu.Lock()
	byEndpoint := map[string][]*link{}
	for _, l := range r.byAgent {
		if l.local == nil && l.ctrl != nil {
			byEndpoint[l.endpointID] = append(byEndpoint[l.endpointID], l)
		}
	}
	r.mu.Unlock()
	if len(byEndpoint) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vpcs := map[string]string{} // vpc id → its networks, joined
	for ep, links := range byEndpoint {
		e, err := r.cfg.Store.GetEndpoint(ctx, ep)
		if err != nil {
			r.log.Warn("vpc sync: read the endpoint", "endpoint", ep, "error", err)
			continue
		}
		joined, known := vpcs[e.VpcID]
		if !known {
			if vpc, err := r.cfg.Store.GetVpc(ctx, e.VpcID); err != nil {
				r.log.Warn("vpc sync: read the endpoint's vpc", "endpoint", ep, "vpc", e.VpcID, "error", err)
			} else {
				joined, known = strings.Join(VPCCIDRs(vpc), ","), true
				vpcs[e.VpcID] = joined
			}
		}
		for _, l := range links {
			l.mu.Lock()
			stale := l.preserveTold != e.PreserveClientIP || known && l.vpcCIDRs != joined
			l.mu.Unlock()
			if stale {
				go r.tellLink(l) // a slow agent must not hold up the others
			}
		}
	}
}

// tellLink sends l what it was not told yet of its endpoint's setting and
// its VPC's networks. It reads them while holding the link's control lock,
// so that of two sends racing the later one carries the newer values, and
// reads them again after each send until what was told is current: a
// change made while a send was in flight found the link's record not yet
// updated, so syncVPCs started no send for it. HandleLink runs it once
// for a new link, for a change synced before the link was registered.
func (r *Relay) tellLink(l *link) {
	l.ctrlMu.Lock()
	defer l.ctrlMu.Unlock()
	for r.tellLinkOnce(l) {
	}
}

// tellLinkOnce is one read of l's endpoint and VPC and a send of each
// value that differs from what l was told; it reports whether it sent.
func (r *Relay) tellLinkOnce(l *link) (sent bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := r.cfg.Store.GetEndpoint(ctx, l.endpointID)
	if err != nil {
		r.log.Warn("link sync: read the endpoint", "agent", l.agentID, "endpoint", l.endpointID, "error", err)
		return false
	}
	on := e.PreserveClientIP
	l.mu.Lock()
	told := l.preserveTold
	l.mu.Unlock()
	if told != on {
		if !r.tellControl(l, tunnelproto.Control{Type: tunnelproto.ControlPreserveClientIP, PreserveClientIP: &on}) {
			return false
		}
		l.mu.Lock()
		l.preserveTold = on
		l.mu.Unlock()
		sent = true
		r.log.Info("told an agent whether its endpoint preserves client addresses", "agent", l.agentID, "endpoint", l.endpointID, "preserve_client_ip", on)
	}
	vpc, err := r.cfg.Store.GetVpc(ctx, e.VpcID)
	if err != nil {
		r.log.Warn("link sync: read the endpoint's vpc", "agent", l.agentID, "vpc", e.VpcID, "error", err)
		return sent
	}
	cidrs := VPCCIDRs(vpc)
	joined := strings.Join(cidrs, ",")
	l.mu.Lock()
	toldVPC := l.vpcCIDRs
	l.mu.Unlock()
	if toldVPC != joined {
		if !r.tellControl(l, tunnelproto.Control{Type: tunnelproto.ControlVPC, VpcCIDRs: cidrs}) {
			return false
		}
		l.mu.Lock()
		l.vpcCIDRs = joined
		l.mu.Unlock()
		sent = true
		r.log.Info("told an agent its VPC's networks changed", "agent", l.agentID, "endpoint", l.endpointID, "networks", joined)
	}
	return sent
}

// tellControl writes m on l's control stream (the caller holds ctrlMu);
// on failure the agent learns the values at its next link.
func (r *Relay) tellControl(l *link, m tunnelproto.Control) bool {
	line, _ := json.Marshal(m)
	_ = l.ctrl.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := l.ctrl.Write(append(line, '\n')); err != nil {
		r.log.Warn("link sync: could not tell the agent; it learns it at its next link", "agent", l.agentID, "type", m.Type, "error", err)
		return false
	}
	return true
}
