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
		for _, l := range links {
			l.mu.Lock()
			told := l.preserveTold
			l.mu.Unlock()
			if told != e.PreserveClientIP {
				go r.tellPreserve(l) // a slow agent must not hold up the others
			}
		}
		joined, ok := vpcs[e.VpcID]
		if !ok {
			vpc, err := r.cfg.Store.GetVpc(ctx, e.VpcID)
			if err != nil {
				r.log.Warn("vpc sync: read the endpoint's vpc", "endpoint", ep, "vpc", e.VpcID, "error", err)
				continue
			}
			joined = strings.Join(VPCCIDRs(vpc), ",")
			vpcs[e.VpcID] = joined
		}
		for _, l := range links {
			l.mu.Lock()
			told := l.vpcCIDRs
			l.mu.Unlock()
			if told != joined {
				go r.tellVPC(l, e.VpcID) // a slow agent must not hold up the others
			}
		}
	}
}

// tellVPC sends l its VPC's networks unless it has them already. It reads
// them while holding the link's control lock, so that of two sends racing
// the later one carries the newer list.
func (r *Relay) tellVPC(l *link, vpcID string) {
	l.ctrlMu.Lock()
	defer l.ctrlMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vpc, err := r.cfg.Store.GetVpc(ctx, vpcID)
	if err != nil {
		r.log.Warn("vpc sync: read the endpoint's vpc", "agent", l.agentID, "vpc", vpcID, "error", err)
		return
	}
	cidrs := VPCCIDRs(vpc)
	joined := strings.Join(cidrs, ",")
	l.mu.Lock()
	told := l.vpcCIDRs
	l.mu.Unlock()
	if told == joined {
		return
	}
	line, _ := json.Marshal(tunnelproto.Control{Type: tunnelproto.ControlVPC, VpcCIDRs: cidrs})
	_ = l.ctrl.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := l.ctrl.Write(append(line, '\n')); err != nil {
		r.log.Warn("vpc sync: could not tell the agent its VPC's networks; it learns them at its next link", "agent", l.agentID, "error", err)
		return
	}
	l.mu.Lock()
	l.vpcCIDRs = joined
	l.mu.Unlock()
	r.log.Info("told an agent its VPC's networks changed", "agent", l.agentID, "endpoint", l.endpointID, "networks", joined)
}

// tellPreserve sends l whether its endpoint preserves client addresses
// unless it has been told already. It reads the endpoint while holding
// the link's control lock, so that of two sends racing the later one
// carries the newer setting, and reads it again after each send until
// what was told is current: a change made while a send was in flight
// found preserveTold not yet updated, so syncVPCs started no send for it.
func (r *Relay) tellPreserve(l *link) {
	l.ctrlMu.Lock()
	defer l.ctrlMu.Unlock()
	for {
		if !r.tellPreserveOnce(l) {
			return
		}
	}
}

// tellPreserveOnce is one read and, if it differs from what l was told,
// one send; it reports whether it sent.
func (r *Relay) tellPreserveOnce(l *link) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := r.cfg.Store.GetEndpoint(ctx, l.endpointID)
	if err != nil {
		r.log.Warn("preserve sync: read the endpoint", "agent", l.agentID, "endpoint", l.endpointID, "error", err)
		return false
	}
	on := e.PreserveClientIP
	l.mu.Lock()
	told := l.preserveTold
	l.mu.Unlock()
	if told == on {
		return false
	}
	line, _ := json.Marshal(tunnelproto.Control{Type: tunnelproto.ControlPreserveClientIP, PreserveClientIP: &on})
	_ = l.ctrl.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := l.ctrl.Write(append(line, '\n')); err != nil {
		r.log.Warn("preserve sync: could not tell the agent whether its endpoint preserves client addresses; it learns it at its next link",
			"agent", l.agentID, "error", err)
		return false
	}
	l.mu.Lock()
	l.preserveTold = on
	l.mu.Unlock()
	r.log.Info("told an agent whether its endpoint preserves client addresses", "agent", l.agentID, "endpoint", l.endpointID, "preserve_client_ip", on)
	return true
}
