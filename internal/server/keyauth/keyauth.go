// Package keyauth is the server's side of the key service (package
// keyservice): where an instance's pushed SSH keys come from (the store,
// unexpired ones only) and who may read them. An endpoint agent, known by
// its key as TLS client certificate and not revoked, reads the keys of
// its own VPC's instances; the server's own host reads those of the local
// network when the embedded agent serves it. Nobody else does.
//
// It lives apart from keyservice because keyservice is also the agent's
// and the instance helper's, which must not import the store.
package keyauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/postern/postern/internal/server/eicapi"
	"github.com/postern/postern/internal/server/httpedge"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/agentkey"
	"github.com/postern/postern/internal/wire/keyservice"
	"github.com/postern/postern/internal/wire/sshkeys"
)

// Store is what the key service reads.
type Store interface {
	GetInstance(ctx context.Context, instanceID string) (store.Instance, error)
	GetAgentByKey(ctx context.Context, fingerprint string) (store.Agent, error)
	GetEndpoint(ctx context.Context, endpointID string) (store.Endpoint, error)
	ListPushedKeys(ctx context.Context, instanceID, osUser string, now time.Time) ([]store.PushedKey, error)
}

// Source returns the keyservice.Source that reads an instance's user's
// unexpired pushed keys from st.
func Source(st Store) keyservice.Source {
	return func(ctx context.Context, instanceID, user string) ([]sshkeys.Entry, error) {
		keys, err := st.ListPushedKeys(ctx, instanceID, user, time.Now())
		if err != nil {
			return nil, err
		}
		return eicapi.Entries(keys), nil
	}
}

// Local is the one-machine network that the embedded agent serves for
// the server's own host; zero when there is none (agent.embedded off).
type Local struct {
	EndpointID string
	VpcID      string
}

// Authorizer decides who may read an instance's pushed keys.
type Authorizer struct {
	st    Store
	local Local
}

// NewAuthorizer returns the authorizer over st; this host may read the
// keys of local's VPC while local names an endpoint.
func NewAuthorizer(st Store, local Local) *Authorizer {
	return &Authorizer{st: st, local: local}
}

// Authorize implements keyservice.Authorize: an agent may read the keys
// of its own VPC's instances, and this host those of the local network
// when the embedded agent serves it. A request it lets through is
// trusted at the edge (httpedge.Trust).
func (a *Authorizer) Authorize(r *http.Request, instanceID string) error {
	ctx := r.Context()
	inst, err := a.st.GetInstance(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("unknown instance %s", instanceID)
	}
	if err != nil {
		return err
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		ag, err := a.st.GetAgentByKey(ctx, agentkey.KeyFingerprint(r.TLS.PeerCertificates[0]))
		if err != nil || !ag.RevokedAt.IsZero() {
			return errors.New("not a known, unrevoked agent")
		}
		ep, err := a.st.GetEndpoint(ctx, ag.EndpointID)
		if err != nil || ep.VpcID != inst.VpcID {
			return errors.New("the instance is not in the agent's VPC")
		}
		httpedge.Trust(ctx)
		return nil
	}
	if a.local.EndpointID != "" && inst.VpcID == a.local.VpcID && isLoopback(r.RemoteAddr) {
		httpedge.Trust(ctx)
		return nil
	}
	return errors.New("only endpoint agents, or this host for its local network, may read pushed keys")
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
