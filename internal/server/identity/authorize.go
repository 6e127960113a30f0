package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
)

// Authorizer gathers the identity policies that apply to a principal and
// evaluates requests against them. Parsed documents are cached by content,
// so a request costs the store reads and the evaluation, not a JSON parse.
type Authorizer struct {
	store store.Repo
	now   func() time.Time
	// changes, when the store offers it, lets Sources reuse what it read
	// while nothing was written (see store.ChangeCounter).
	changes store.ChangeCounter

	mu      sync.Mutex // guards cache and sources
	cache   map[[32]byte]*policy.Document
	sources map[sourcesKey]cachedSources
}

// ErrPrincipalGone means the identity a principal's credential was issued
// to (Principal.PoliciesID) no longer exists, though its name may now
// belong to another identity. The edge answers it as it answers an invalid
// credential.
var ErrPrincipalGone = errors.New("identity: the identity of the credential no longer exists")

// sourcesKey is what cached policies were read for: an identity's name
// and, when known, its unique id.
type sourcesKey struct {
	ref store.PrincipalRef
	id  string
}

// cachedSources are the policies of one identity as read while the
// store's change count was gen.
type cachedSources struct {
	gen     uint64
	sources []policy.Source
}

// maxCachedDocs bounds the parsed-document cache.
const maxCachedDocs = 4096

// NewAuthorizer returns an Authorizer over st. now defaults to time.Now.
func NewAuthorizer(st store.Repo, now func() time.Time) *Authorizer {
	if now == nil {
		now = time.Now
	}
	a := &Authorizer{store: st, now: now, cache: make(map[[32]byte]*policy.Document), sources: make(map[sourcesKey]cachedSources)}
	a.changes = store.CacheCounter(st, store.ChangeFeed)
	return a
}

// Parse parses a stored identity policy, using the cache.
func (a *Authorizer) Parse(doc string, kind policy.Kind) (*policy.Document, error) {
	key := sha256.Sum256(append([]byte{byte(kind)}, doc...))
	a.mu.Lock()
	d, ok := a.cache[key]
	a.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := policy.Parse(doc, kind)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxCachedDocs {
		clear(a.cache)
	}
	a.cache[key] = d
	a.mu.Unlock()
	return d, nil
}

// Sources returns every identity policy that applies to ref: its inline and
// attached policies and, for a user, those of each of its groups.
//
// When the store counts its writes, the result is reused until anything
// is written: the count is read before the policies, so a write that
// lands during the read makes the next call read again, and a change of
// access is seen by the first request after its write commits.
func (a *Authorizer) Sources(ctx context.Context, ref store.PrincipalRef) ([]policy.Source, error) {
	return a.sourcesOf(ctx, sourcesKey{ref: ref})
}

// sourcesOf is Sources for the identity k names; when k.id is set, only
// while ref's name belongs to the identity with that id (ErrPrincipalGone
// otherwise).
func (a *Authorizer) sourcesOf(ctx context.Context, k sourcesKey) ([]policy.Source, error) {
	if a.changes == nil {
		return a.readSources(ctx, k)
	}
	gen := a.changes.Changes()
	a.mu.Lock()
	c, ok := a.sources[k]
	a.mu.Unlock()
	if ok && c.gen == gen {
		return c.sources, nil
	}
	out, err := a.readSources(ctx, k)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.sources) >= maxCachedDocs {
		clear(a.sources)
	}
	a.sources[k] = cachedSources{gen: gen, sources: out}
	a.mu.Unlock()
	return out, nil
}

// readSources reads the policies of k.ref from the store. With k.id set,
// it checks after reading that the name still belongs to that identity:
// ids are never reused, so an identity found under its id after the reads
// existed throughout them, and what was read is its own.
func (a *Authorizer) readSources(ctx context.Context, k sourcesKey) ([]policy.Source, error) {
	out, err := a.readPolicies(ctx, k.ref)
	if k.id == "" {
		return out, err
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// A read that found no owner saw the identity deleted (ErrNotFound);
	// otherwise the owner must still be the same identity.
	if err == nil {
		var id string
		switch k.ref.Kind {
		case store.KindUser:
			var u store.User
			u, err = a.store.GetUser(ctx, k.ref.Name)
			id = u.UserID
		case store.KindRole:
			var r store.Role
			r, err = a.store.GetRole(ctx, k.ref.Name)
			id = r.RoleID
		default:
			return nil, fmt.Errorf("identity: principal of kind %q", k.ref.Kind)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("identity: %s %s: %w", k.ref.Kind, k.ref.Name, err)
		}
		if err == nil && id == k.id {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: %s %s (%s)", ErrPrincipalGone, k.ref.Kind, k.ref.Name, k.id)
}

// readPolicies reads the policies of ref from the store.
func (a *Authorizer) readPolicies(ctx context.Context, ref store.PrincipalRef) ([]policy.Source, error) {
	var out []policy.Source
	add := func(owner store.PrincipalRef) error {
		inline, err := a.store.ListInlinePolicies(ctx, owner)
		if err != nil {
			return fmt.Errorf("identity: inline policies of %s %s: %w", owner.Kind, owner.Name, err)
		}
		for _, p := range inline {
			d, err := a.Parse(p.Document, policy.IdentityPolicy)
			if err != nil {
				return fmt.Errorf("identity: stored policy %s of %s %s: %w", p.PolicyName, owner.Kind, owner.Name, err)
			}
			out = append(out, policy.Source{Name: string(owner.Kind) + "/" + owner.Name + ":inline/" + p.PolicyName, Doc: d})
		}
		attached, err := a.store.ListAttachedPolicies(ctx, owner)
		if err != nil {
			return fmt.Errorf("identity: attached policies of %s %s: %w", owner.Kind, owner.Name, err)
		}
		for _, p := range attached {
			d, err := a.Parse(p.Document, policy.IdentityPolicy)
			if err != nil {
				return fmt.Errorf("identity: stored policy %s: %w", p.ARN, err)
			}
			out = append(out, policy.Source{Name: p.ARN, Doc: d})
		}
		return nil
	}
	if err := add(ref); err != nil {
		return nil, err
	}
	if ref.Kind == store.KindUser {
		groups, err := a.store.ListGroupsForUser(ctx, ref.Name)
		if err != nil {
			return nil, fmt.Errorf("identity: groups of %s: %w", ref.Name, err)
		}
		for _, g := range groups {
			if err := add(store.PrincipalRef{Kind: store.KindGroup, Name: g.GroupName}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// RequestInfo is what the edge knows about the request beyond the principal.
type RequestInfo struct {
	SourceIP string
	Secure   bool
}

// GlobalContext returns the aws:* condition keys for a principal's request.
func GlobalContext(p *Principal, info RequestInfo, now time.Time) policy.Context {
	c := policy.Context{}
	now = now.UTC()
	c.Set("aws:CurrentTime", now.Format(time.RFC3339))
	c.Set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
	c.Set("aws:SecureTransport", strconv.FormatBool(info.Secure))
	if info.SourceIP != "" {
		c.Set("aws:SourceIp", info.SourceIP)
	}
	if p != nil {
		c.Set("aws:PrincipalArn", p.ARN)
		c.Set("aws:PrincipalAccount", p.AccountID)
		c.Set("aws:PrincipalType", p.Type)
		c.Set("aws:userid", p.PrincipalID)
		switch p.Type {
		case TypeIAMUser:
			c.Set("aws:username", p.UserName)
		case TypeAssumedRole:
			c.Set("aws:PrincipalArn", p.RoleARN) // AWS: the role's ARN for sessions
		}
		setMFAKeys(c, p, now)
		setWebIdentityKeys(c, p)
	}
	return c
}

// setWebIdentityKeys sets the keys of a session issued by
// AssumeRoleWithWebIdentity, as AWS does: aws:FederatedProvider (the OIDC
// provider's ARN), aws:SourceIdentity when the session has one, and
// aws:PrincipalTag/<key> for each session tag of the token, so that a
// policy can say "ec2:osuser": "${aws:PrincipalTag/username}".
func setWebIdentityKeys(c policy.Context, p *Principal) {
	w := p.WebIdentity
	if w == nil {
		return
	}
	c.Set("aws:FederatedProvider", w.Provider)
	if w.SourceIdentity != "" {
		c.Set("aws:SourceIdentity", w.SourceIdentity)
	}
	for _, t := range w.Tags {
		c.Set("aws:PrincipalTag/"+t.Key, t.Value)
	}
}

// setMFAKeys sets the keys of temporary credentials, as AWS does:
// aws:TokenIssueTime and aws:MultiFactorAuthPresent ("true" or "false")
// for every session, and aws:MultiFactorAuthAge (seconds since the MFA
// authentication) when MFA was used. Requests signed with a long-term
// access key carry none of them.
func setMFAKeys(c policy.Context, p *Principal, now time.Time) {
	if !p.Temporary() {
		return
	}
	c.Set("aws:TokenIssueTime", p.SessionIssued.UTC().Format(time.RFC3339))
	c.Set("aws:MultiFactorAuthPresent", strconv.FormatBool(p.MFAAuthenticated))
	if p.MFAAuthenticated && !p.AuthTime.IsZero() {
		c.Set("aws:MultiFactorAuthAge", strconv.FormatInt(max(0, int64(now.Sub(p.AuthTime)/time.Second)), 10))
	}
}

// Authorize decides whether p may perform action on resource. extra holds
// the action's own condition keys (they override global ones of the same
// name). The decision names the deciding statement. It returns an error
// wrapping ErrPrincipalGone when the identity p was authenticated as has
// been deleted since.
func (a *Authorizer) Authorize(ctx context.Context, p *Principal, info RequestInfo, action, resource string, extra policy.Context) (policy.Decision, error) {
	sources, err := a.sourcesOf(ctx, sourcesKey{ref: p.Policies, id: p.PoliciesID})
	if err != nil {
		return policy.Decision{}, err
	}
	// The global keys are built only for policies that can read them: a
	// formatted time, the principal's keys and a map per call otherwise.
	c := extra
	if policy.ReadsContext(sources) {
		c = GlobalContext(p, info, a.now())
		for k, v := range extra {
			c[k] = v
		}
	}
	return policy.Evaluate(sources, policy.Request{Action: action, Resource: resource, Context: c}), nil
}
