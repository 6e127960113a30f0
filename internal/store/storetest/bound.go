package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/postern/postern/internal/store"
)

// exists reports whether the user is visible with ctx.
func exists(t *testing.T, s store.Repo, ctx context.Context, name string) bool {
	t.Helper()
	_, err := s.GetUser(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUser %s: %v", name, err)
	}
	return err == nil
}

// hasEvent reports whether the event is visible with ctx.
func hasEvent(t *testing.T, s store.Repo, ctx context.Context, eventID string) bool {
	t.Helper()
	evs, err := s.ListEvents(ctx, store.EventQuery{EventID: eventID})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	return len(evs) == 1
}

// testBoundTx checks store.BindTx: the Store's own methods called with a
// context bound to one of its transactions join that transaction (an API
// action's store calls and its record then commit together), and run on
// their own again once the binding is closed.
func testBoundTx(t *testing.T, s store.Store) {
	ctx := t.Context()
	var changesBefore uint64
	cc, counts := s.(store.ChangeCounter)

	// Committed: everything written through the bound context, directly,
	// in a nested InTx or after a failed write, commits with the
	// transaction, and only then; a failed nested InTx undoes only itself.
	ran := false
	var binding *store.TxBinding
	err := s.InTx(ctx, func(tx store.Repo) error {
		ran = false
		bctx, b := store.BindTx(ctx, tx)
		defer b.Close()
		binding = b
		if err := s.CreateUser(bctx, userRec("alice", "/")); err != nil {
			return err
		}
		if !exists(t, s, bctx, "alice") {
			t.Error("a bound context does not see its transaction's write")
		}
		if exists(t, s, ctx, "alice") {
			t.Error("a write through a bound context is visible outside before the commit")
		}
		// A failed write does not spoil the transaction (PostgreSQL
		// aborts a transaction on an error unless in a savepoint).
		want(t, s.CreateUser(bctx, userRec("ALICE", "/")), store.ErrConflict, "create a taken name through a bound context")
		nestedErr := s.InTx(bctx, func(tx2 store.Repo) error {
			if err := tx2.CreateUser(ctx, userRec("bob", "/")); err != nil {
				return err
			}
			return errBoom
		})
		want(t, nestedErr, errBoom, "nested InTx through a bound context")
		if exists(t, s, bctx, "bob") {
			t.Error("a failed nested InTx through a bound context left its write")
		}
		if err := s.AppendEvent(bctx, eventRec("ev-bound", tt(1), "CreateUser", "")); err != nil {
			return err
		}
		if hasEvent(t, s, ctx, "ev-bound") {
			t.Error("an event appended through a bound context is visible outside before the commit")
		}
		users, err := s.ListUsers(bctx, "/")
		if err != nil {
			return err
		}
		if len(users) != 1 {
			t.Errorf("ListUsers through a bound context = %d users, want 1", len(users))
		}
		store.AfterCommit(bctx, func() { ran = true })
		if ran {
			t.Error("AfterCommit ran before the commit")
		}
		return nil
	})
	want(t, err, nil, "bound transaction")
	binding.Committed()
	if !ran {
		t.Error("AfterCommit did not run after the commit")
	}
	if !exists(t, s, ctx, "alice") || !hasEvent(t, s, ctx, "ev-bound") {
		t.Error("the bound transaction's writes were not committed")
	}

	// Rolled back: nothing written through the bound context stays, and
	// what was read in the transaction is not cached past it.
	if counts {
		changesBefore = cc.Changes()
	}
	ran = false
	var bctx context.Context
	err = s.InTx(ctx, func(tx store.Repo) error {
		c, b := store.BindTx(ctx, tx)
		defer b.Close()
		bctx = c
		if err := s.CreateUser(bctx, userRec("carol", "/")); err != nil {
			return err
		}
		if err := s.AppendEvent(bctx, eventRec("ev-undone", tt(2), "CreateUser", "")); err != nil {
			return err
		}
		if !exists(t, s, bctx, "carol") {
			t.Error("a bound context does not see its transaction's write")
		}
		store.AfterCommit(bctx, func() { ran = true })
		return errBoom
	})
	want(t, err, errBoom, "rolled-back bound transaction")
	if exists(t, s, ctx, "carol") || hasEvent(t, s, ctx, "ev-undone") {
		t.Error("a rolled-back bound transaction left its writes")
	}
	if ran {
		t.Error("AfterCommit ran for a transaction that rolled back")
	}
	if counts && cc.Changes() == changesBefore {
		t.Error("Changes did not change after a rolled-back transaction that wrote: a cache may keep what it read in it")
	}

	// Once the binding is closed, the context's calls run on their own.
	want(t, s.CreateUser(bctx, userRec("dave", "/")), nil, "create through a closed binding")
	if !exists(t, s, ctx, "dave") {
		t.Error("a write through a closed binding was not committed")
	}
	ran = false
	store.AfterCommit(bctx, func() { ran = true })
	if !ran {
		t.Error("AfterCommit with a closed binding did not run at once")
	}
}

// testBoundTxCaches checks that what a bound context reads in a
// transaction that rolls back is not served later from a cache: the
// endpoint listing, cached by a change counter the transaction bumped.
func testBoundTxCaches(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, sn, g := network(t, s, 1)
	want(t, s.CreateEndpoint(ctx, endpoint(0, sn, g.GroupID)), nil, "create endpoint 0")
	err := s.InTx(ctx, func(tx store.Repo) error {
		bctx, b := store.BindTx(ctx, tx)
		defer b.Close()
		if err := s.CreateEndpoint(bctx, endpoint(1, sn, g.GroupID)); err != nil {
			return err
		}
		list, err := s.ListEndpoints(bctx)
		if err != nil {
			return err
		}
		if len(list) != 2 {
			t.Errorf("ListEndpoints through a bound context = %d endpoints, want 2", len(list))
		}
		return errBoom
	})
	want(t, err, errBoom, "rolled-back bound transaction")
	// A committed change that brings the counter where the rolled-back
	// transaction had it.
	want(t, s.CreateEndpoint(ctx, endpoint(2, sn, g.GroupID)), nil, "create endpoint 2")
	list, err := s.ListEndpoints(ctx)
	want(t, err, nil, "list endpoints")
	got := []string{}
	for _, e := range list {
		got = append(got, e.EndpointID)
	}
	if wantIDs := []string{endpoint(0, sn).EndpointID, endpoint(2, sn).EndpointID}; !slices.Equal(got, wantIDs) {
		t.Errorf("ListEndpoints = %v, want %v (a listing read in a rolled-back transaction was cached)", got, wantIDs)
	}
}
