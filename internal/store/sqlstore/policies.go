package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/postern/postern/internal/store"
)

// PutInlinePolicy implements store.Policies. Inline policy names are
// compared exactly (case-sensitively).
func (r *repo) PutInlinePolicy(ctx context.Context, p store.InlinePolicy) error {
	err := r.update(ctx, func(q querier) error {
		oq, id, _, err := r.findOwner(ctx, q, p.Owner)
		if err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, oq.putInline, id, p.PolicyName, p.Document)
		return err
	})
	return r.fail(err, "put inline policy %q of %s %q", p.PolicyName, p.Owner.Kind, p.Owner.Name)
}

// GetInlinePolicy implements store.Policies. Owner.Name in the result is
// the owner's name as created.
func (r *repo) GetInlinePolicy(ctx context.Context, owner store.PrincipalRef, policyName string) (store.InlinePolicy, error) {
	p := store.InlinePolicy{Owner: store.PrincipalRef{Kind: owner.Kind}}
	oq, err := r.owner(owner.Kind)
	if err == nil {
		err = r.read().QueryRowContext(ctx, oq.getInline, nameKey(owner.Name), policyName).
			Scan(&p.Owner.Name, &p.PolicyName, &p.Document)
	}
	if err != nil {
		return store.InlinePolicy{}, r.fail(err, "get inline policy %q of %s %q", policyName, owner.Kind, owner.Name)
	}
	return p, nil
}

// ListInlinePolicies implements store.Policies. It returns
// store.ErrNotFound if the owner does not exist.
func (r *repo) ListInlinePolicies(ctx context.Context, owner store.PrincipalRef) ([]store.InlinePolicy, error) {
	var out []store.InlinePolicy
	err := r.view(ctx, func(q querier) error {
		oq, id, name, err := r.findOwner(ctx, q, owner)
		if err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, oq.listInline, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		ref := store.PrincipalRef{Kind: owner.Kind, Name: name}
		out, err = collect(rows, func(sc scanner) (store.InlinePolicy, error) {
			p := store.InlinePolicy{Owner: ref}
			return p, sc.Scan(&p.PolicyName, &p.Document)
		})
		return err
	})
	if err != nil {
		return nil, r.fail(err, "list inline policies of %s %q", owner.Kind, owner.Name)
	}
	return out, nil
}

// DeleteInlinePolicy implements store.Policies.
func (r *repo) DeleteInlinePolicy(ctx context.Context, owner store.PrincipalRef, policyName string) error {
	err := r.update(ctx, func(q querier) error {
		oq, id, _, err := r.findOwner(ctx, q, owner)
		if err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, oq.deleteInline, id, policyName))
	})
	return r.fail(err, "delete inline policy %q of %s %q", policyName, owner.Kind, owner.Name)
}

// CreateManagedPolicy implements store.Policies. It returns
// store.ErrConflict if the name (compared case-insensitively), the ARN or
// the id exists. p.AttachmentCount is ignored.
func (r *repo) CreateManagedPolicy(ctx context.Context, p store.ManagedPolicy) error {
	err := r.update(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.s.q.insertPolicy,
			p.PolicyID, p.PolicyName, nameKey(p.PolicyName), p.Path, p.ARN, p.Description, p.Document,
			p.DefaultVersionID, toMicros(p.CreateDate), toMicros(p.UpdateDate))
		return err
	})
	return r.fail(err, "create managed policy %q", p.PolicyName)
}

// GetManagedPolicy implements store.Policies.
func (r *repo) GetManagedPolicy(ctx context.Context, arn string) (store.ManagedPolicy, error) {
	p, err := scanPolicy(r.read().QueryRowContext(ctx, r.s.q.getPolicy, arn))
	if err != nil {
		return store.ManagedPolicy{}, r.fail(err, "get managed policy %q", arn)
	}
	return p, nil
}

// ListManagedPolicies implements store.Policies, ordered by name
// case-insensitively.
func (r *repo) ListManagedPolicies(ctx context.Context, pathPrefix string) ([]store.ManagedPolicy, error) {
	ps, err := queryPolicies(ctx, r.read(), r.s.q.listPolicies, prefixArgs(pathPrefix)...)
	if err != nil {
		return nil, r.fail(err, "list managed policies under %q", pathPrefix)
	}
	return ps, nil
}

// DeleteManagedPolicy implements store.Policies.
func (r *repo) DeleteManagedPolicy(ctx context.Context, arn string) error {
	err := r.update(ctx, func(q querier) error {
		id, err := r.lookupPolicy(ctx, q, arn)
		if err != nil {
			return err
		}
		var n int64
		if err := q.QueryRowContext(ctx, r.s.q.policyAttachments, id).Scan(&n); err != nil {
			return err
		}
		if err := inUse([]int64{n}, []string{"attachment(s)"}); err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.s.q.deletePolicy, id))
	})
	return r.failDelete(err, "delete managed policy %q", arn)
}

// AttachPolicy implements store.Policies.
func (r *repo) AttachPolicy(ctx context.Context, owner store.PrincipalRef, policyARN string) error {
	err := r.setAttached(ctx, owner, policyARN, true)
	return r.fail(err, "attach policy %q to %s %q", policyARN, owner.Kind, owner.Name)
}

// DetachPolicy implements store.Policies. It returns store.ErrNotFound if
// the owner, the policy or the attachment is missing.
func (r *repo) DetachPolicy(ctx context.Context, owner store.PrincipalRef, policyARN string) error {
	err := r.setAttached(ctx, owner, policyARN, false)
	return r.fail(err, "detach policy %q from %s %q", policyARN, owner.Kind, owner.Name)
}

// setAttached attaches the policy policyARN to owner (idempotently) or
// detaches it, in one update; both must exist, and a detached policy must
// have been attached.
func (r *repo) setAttached(ctx context.Context, owner store.PrincipalRef, policyARN string, attach bool) error {
	return r.update(ctx, func(q querier) error {
		oq, oid, _, err := r.findOwner(ctx, q, owner)
		if err != nil {
			return err
		}
		pid, err := r.lookupPolicy(ctx, q, policyARN)
		if err != nil {
			return err
		}
		return setLink(ctx, q, attach, oq.attach, oq.detach, "policy is not attached", oid, pid)
	})
}

// ListAttachedPolicies implements store.Policies. It returns
// store.ErrNotFound if the owner does not exist.
func (r *repo) ListAttachedPolicies(ctx context.Context, owner store.PrincipalRef) ([]store.ManagedPolicy, error) {
	out, err := listOwned(ctx, r, owner, func(oq *ownerQueries) string { return oq.listAttached }, queryPolicies)
	if err != nil {
		return nil, r.fail(err, "list policies attached to %s %q", owner.Kind, owner.Name)
	}
	return out, nil
}

// lookupPolicy returns the id of the managed policy with the ARN.
func (r *repo) lookupPolicy(ctx context.Context, q querier, arn string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, r.s.q.policyByARN, arn).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("policy %q", arn)
	}
	return id, err
}

func scanPolicy(sc scanner) (store.ManagedPolicy, error) {
	var (
		p      store.ManagedPolicy
		cd, ud int64
	)
	if err := sc.Scan(&p.PolicyID, &p.PolicyName, &p.Path, &p.ARN, &p.Description, &p.Document,
		&p.DefaultVersionID, &p.AttachmentCount, &cd, &ud); err != nil {
		return store.ManagedPolicy{}, err
	}
	p.CreateDate, p.UpdateDate = fromMicros(cd), fromMicros(ud)
	return p, nil
}

func queryPolicies(ctx context.Context, q querier, stmt string, args ...any) ([]store.ManagedPolicy, error) {
	rows, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanPolicy)
}
