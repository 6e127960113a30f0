package frontdoor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// Revocation. AWS keeps a tunnel open until its maximum duration whatever
// happens to the access that opened it; Postern closes it within a second
// of the access going away: the access key deactivated or deleted, the
// user deleted, a policy detached or changed so that it no longer allows
// the tunnel, the endpoint deleted (and, when the operator asks, the role
// session that opened it expiring). The front door re-checks its open
// tunnels when the store says something was written (store.ChangeCounter,
// polled every RevalidateInterval) and every RecheckInterval in any case
// (time conditions such as aws:CurrentTime). One re-check reads each
// distinct principal, endpoint and decision once, however many tunnels
// share them.

// Re-check timing.
const (
	RevalidateInterval = 200 * time.Millisecond
	RecheckInterval    = 30 * time.Second
)

// revalidate runs until Shutdown, watching the store's changes with watch
// (without a change counter: a re-check every second).
func (f *FrontDoor) revalidate(watch *store.ChangeWatch) {
	hook("revalidate")
	tick := time.NewTicker(RevalidateInterval)
	defer tick.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-tick.C:
		}
		now := f.cfg.Now()
		if watch.Due(now, false) {
			hook("recheck")
			f.recheck(now)
		} else if f.cfg.EndOnSessionExpiry {
			f.expireSessions(now)
		}
	}
}

// revoke ends a tunnel whose access went away. A re-check ends many in
// turn: the close frame is written aside (finishAside).
func (t *tunnel) revoke(why string) {
	t.finishAside(wsframe.ClosePolicyViolation, tunnelproto.CodeRevoked, "Access was revoked: "+why)
}

// expireSessions ends the tunnels of role and console sessions that
// expired, the tunnels whose dial still runs too (recheckList's
// stand-ins, nil conn: they end before their first byte, revokeDialing).
func (f *FrontDoor) expireSessions(now time.Time) {
	for _, t := range f.recheckList() {
		if p := t.req.principal; p != nil && p.Temporary() && !p.SessionExpires.IsZero() && !now.Before(p.SessionExpires) {
			why := "the " + sessionNoun(p) + " that opened the tunnel expired"
			if t.conn == nil {
				f.revokeDialing(t.req.tunnelID, why)
			} else {
				t.revoke(why)
			}
		}
	}
}

// recheck re-decides every open tunnel and ends those no longer allowed,
// the tunnels whose dial still runs too (on record as open already; they
// then end before their first byte, revokeDialing).
func (f *FrontDoor) recheck(now time.Time) {
	// A dialing tunnel is a stand-in, told apart by its nil conn: decided
	// as an open tunnel, ended by revokeDialing.
	ts := f.recheckList()
	if len(ts) == 0 {
		return
	}
	f.decideAgain(ts, now)
	hook("rechecked")
}

// decideAgain re-decides tunnels (open ones, and stand-ins with a nil
// conn for tunnels whose dial runs) at now and ends those no longer
// allowed.
func (f *FrontDoor) decideAgain(ts []*tunnel, now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	creds := map[string]string{}     // access key id → why it is no longer valid ("" when it is)
	endpoints := map[string]string{} // endpoint id → why it is unusable
	decisions := map[string]string{} // decision key → why it is denied
	for _, t := range ts {
		if t.isEnded() {
			continue
		}
		req := t.req
		p := req.principal
		if p == nil {
			continue
		}
		why, ok := creds[p.AccessKeyID]
		if !ok {
			why = f.credentialGone(ctx, p, now)
			creds[p.AccessKeyID] = why
		}
		if why == "" {
			if why, ok = endpoints[req.endpoint.EndpointID]; !ok {
				why = f.endpointGone(ctx, req.endpoint.EndpointID)
				endpoints[req.endpoint.EndpointID] = why
			}
		}
		if why == "" {
			key := strings.Join([]string{p.ARN, p.AccessKeyID, req.endpoint.EndpointID, req.addr.String(), strconv.Itoa(req.port),
				strconv.Itoa(int(req.duration / time.Second)), req.sourceIP}, "|")
			if why, ok = decisions[key]; !ok {
				why = f.deniedNow(ctx, req)
				decisions[key] = why
			}
		}
		if why != "" && t.conn == nil {
			f.revokeDialing(req.tunnelID, why)
		} else if why != "" {
			t.logInfo("tunnel revoked", "reason", why)
			t.revoke(why)
		}
	}
}

// credentialGone says why the principal's credentials no longer hold, or
// "". The user and the role are looked up by their unique ids: a new
// identity created under a deleted one's name does not keep its tunnels.
func (f *FrontDoor) credentialGone(ctx context.Context, p *identity.Principal, now time.Time) string {
	if p.Type == identity.TypeIAMUser && p.Temporary() {
		// A user's console session: the session and its user must stay.
		if _, err := f.cfg.Store.GetSession(ctx, p.AccessKeyID); errors.Is(err, store.ErrNotFound) {
			return "the console session was signed out"
		}
		if f.cfg.EndOnSessionExpiry && !p.SessionExpires.IsZero() && !now.Before(p.SessionExpires) {
			return "the console session that opened the tunnel expired"
		}
		if _, err := f.cfg.Store.GetUserByID(ctx, p.PrincipalID); errors.Is(err, store.ErrNotFound) {
			return "the user was deleted"
		}
		return ""
	}
	if p.Type == identity.TypeAssumedRole {
		if _, err := f.cfg.Store.GetSession(ctx, p.AccessKeyID); errors.Is(err, store.ErrNotFound) {
			return "the role session was revoked"
		}
		if f.cfg.EndOnSessionExpiry && !p.SessionExpires.IsZero() && !now.Before(p.SessionExpires) {
			return "the role session that opened the tunnel expired"
		}
		if _, err := f.cfg.Store.GetRoleByID(ctx, p.RoleID); errors.Is(err, store.ErrNotFound) {
			return "the role was deleted"
		}
		return ""
	}
	k, err := f.cfg.Store.GetAccessKey(ctx, p.AccessKeyID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "the access key was deleted"
	case err != nil:
		f.log.Warn("revocation check: access key", "error", err)
		return ""
	case k.Status != store.KeyActive:
		return "the access key was deactivated"
	}
	if _, err := f.cfg.Store.GetUserByID(ctx, p.PrincipalID); errors.Is(err, store.ErrNotFound) {
		return "the user was deleted"
	}
	return ""
}

// endpointGone says why the endpoint no longer serves tunnels, or "".
func (f *FrontDoor) endpointGone(ctx context.Context, id string) string {
	ep, err := f.cfg.Store.GetEndpoint(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "the instance connect endpoint was deleted"
	case err != nil:
		return ""
	case endpoints.Deleted(ep.State):
		return "the instance connect endpoint was deleted"
	}
	return ""
}

// deniedNow says why IAM no longer allows the tunnel, or "".
func (f *FrontDoor) deniedNow(ctx context.Context, req *request) string {
	cx := policy.Context{}
	cx.Set("ec2-instance-connect:remotePort", strconv.Itoa(req.port))
	cx.Set("ec2-instance-connect:privateIpAddress", req.addr.String())
	cx.Set("ec2-instance-connect:maxTunnelDuration", strconv.Itoa(int(req.duration/time.Second)))
	ep, err := f.cfg.Store.GetEndpoint(ctx, req.endpoint.EndpointID)
	tags := req.endpoint.Tags
	if err == nil {
		tags = ep.Tags
	}
	for _, tg := range tags {
		cx.Set("aws:ResourceTag/"+tg.Key, tg.Value)
		cx.Set("ec2:ResourceTag/"+tg.Key, tg.Value)
	}
	dec, err := f.cfg.Authorizer.Authorize(ctx, req.principal, identity.RequestInfo{SourceIP: req.sourceIP, Secure: true}, ActionOpenTunnel, req.endpointRN, cx)
	if errors.Is(err, identity.ErrPrincipalGone) {
		return "the identity that opened the tunnel was deleted"
	}
	if err != nil {
		f.log.Warn("revocation check: authorize", "error", err)
		return ""
	}
	if dec.Allowed {
		return ""
	}
	return fmt.Sprintf("%s no longer allows %s on %s", req.principal.ARN, ActionOpenTunnel, req.endpoint.EndpointID)
}

// sessionNoun names the kind of session a temporary principal holds.
func sessionNoun(p *identity.Principal) string {
	if p.Type == identity.TypeAssumedRole {
		return "role session"
	}
	return "console session"
}
