package ec2api

import (
	"context"
	"errors"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/store"
)

// The steps that the actions on one resource (Create*, Delete*,
// RegisterInstance, DeregisterInstance) share.

// getOne reads the resource id of kind k with get, answering the kind's
// NotFound when it is missing.
func getOne[T any](c *api.Call, k resourceKind, id string, get func(context.Context, string) (T, error)) (T, error) {
	v, err := get(ctx(c), id)
	if errors.Is(err, store.ErrNotFound) {
		return v, k.errNotFound(id)
	}
	if err != nil {
		return v, storeErr(err, "get %s %s", k.noun, id)
	}
	return v, nil
}

// authorizeCreateIn authorizes a create inside an existing parent resource
// (a subnet's VPC, an instance's subnet): parent, the check on the parent
// (its context without the parent's tags, which are added here), and
// newChecks, on the new resource, go to authorize. The parent, read with
// get, is authorized before anything about it is told: when it does not
// exist, on the ARN built from parentID alone. It returns the parent.
func authorizeCreateIn[T any](s *service, c *api.Call, parentID string, get func(*api.Call, string) (T, error), tags func(T) []store.Tag,
	parent check, newChecks []check, authorize func(*api.Call, ...check) error) (T, error) {
	v, err := get(c, parentID)
	if err != nil {
		return v, s.hideMissing(c, err, parentID, append([]check{parent}, newChecks...)...)
	}
	if parent.ctx == nil {
		parent.ctx = policyContext()
	}
	parent.ctx = withResourceTags(parent.ctx, tags(v))
	return v, authorize(c, append([]check{parent}, newChecks...)...)
}

// createErr is the answer to err, the store's answer to creating the
// resource id of kind k inside the resource parentID of kind parent (nil
// for nil): store.ErrNotFound means that the parent went away.
func createErr(err error, k resourceKind, id string, parent resourceKind, parentID string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return parent.errNotFound(parentID)
	}
	return storeErr(err, "create %s %s", k.noun, id)
}

// createTagged runs create and then stores tags on the new resource id, in
// one transaction.
func (s *service) createTagged(c *api.Call, id string, tags []store.Tag, create func(tx store.Repo) error) error {
	return s.st.InTx(ctx(c), func(tx store.Repo) error {
		if err := create(tx); err != nil {
			return err
		}
		return setTags(ctx(c), tx, id, tags)
	})
}

// deletion is a Delete action on one tagged resource of a kind, named by
// one id parameter (DeleteVpc, DeleteSubnet, DeregisterInstance).
type deletion[T any] struct {
	action  string       // the IAM action, as "ec2:DeleteSubnet"
	idParam string       // the parameter naming the resource
	kind    resourceKind // the resource's kind
	get     func(c *api.Call, id string) (T, error)
	tags    func(T) []store.Tag
	// del removes the resource in the transaction tx; its own tags are
	// removed after it.
	del func(c *api.Call, tx store.Repo, id string) error
}

// deleteOne runs d: it reads the resource (a missing one is told only to a
// caller allowed the action on its ARN), authorizes the action with the
// resource's tags, honours DryRun, then deletes the resource and its tags
// in one transaction.
func deleteOne[T any](s *service, c *api.Call, d deletion[T]) (any, error) {
	id, err := requiredID(c.Params, d.idParam, d.kind)
	if err != nil {
		return nil, err
	}
	chk := check{action: d.action, resource: s.arn(d.kind, id)}
	v, err := d.get(c, id)
	if err != nil {
		return nil, s.hideMissing(c, err, id, chk)
	}
	chk.ctx = withResourceTags(policyContext(), d.tags(v))
	if err := s.authorizeAndDryRun(c, chk); err != nil {
		return nil, err
	}
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		if err := d.del(c, tx, id); err != nil {
			return err
		}
		return clearTags(ctx(c), tx, id)
	})
	if err != nil {
		return nil, err
	}
	return returnXML{Return: true}, nil
}

// deleteErr is the answer to err, the store's answer to deleting the
// resource id of kind k (nil for nil): store.ErrInUse is
// DependencyViolation with the message inUse (formatted with the id) when
// inUse is set, store.ErrNotFound is the kind's NotFound.
func deleteErr(err error, k resourceKind, id, inUse string) error {
	switch {
	case err == nil:
		return nil
	case inUse != "" && errors.Is(err, store.ErrInUse):
		return badRequest(codeDependencyViolation, inUse, id)
	case errors.Is(err, store.ErrNotFound):
		return k.errNotFound(id)
	}
	return storeErr(err, "delete %s %s", k.noun, id)
}
