package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/postern/postern/internal/store"
)

var errBoom = errors.New("storetest: boom")

func testTxCommit(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := userRec("alice", "/", store.Tag{Key: "k", Value: "v"})
	k := keyRec("alice", at(1))
	err := s.InTx(ctx, func(tx store.Repo) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.CreateAccessKey(ctx, k); err != nil {
			return err
		}
		// Reads inside the transaction see its writes.
		got, err := tx.GetUser(ctx, "ALICE")
		if err != nil {
			return fmt.Errorf("GetUser inside the transaction: %w", err)
		}
		sameUser(t, got, u)
		ks, err := tx.ListAccessKeys(ctx, "alice")
		if err != nil {
			return fmt.Errorf("ListAccessKeys inside the transaction: %w", err)
		}
		if len(ks) != 1 {
			t.Errorf("ListAccessKeys inside the transaction = %d keys", len(ks))
		}
		return tx.PutSetting(ctx, "k", "v")
	})
	ok(t, err, "InTx")
	got, err := s.GetUser(ctx, "alice")
	ok(t, err, "GetUser after commit")
	sameUser(t, got, u)
	_, err = s.GetAccessKey(ctx, k.AccessKeyID)
	ok(t, err, "GetAccessKey after commit")
	_, err = s.GetSetting(ctx, "k")
	ok(t, err, "GetSetting after commit")
}

// assertNothingLeft checks that neither the user nor the key exists.
func assertNothingLeft(t *testing.T, s store.Store, u store.User, k store.AccessKey) {
	t.Helper()
	ctx := t.Context()
	_, err := s.GetUser(ctx, u.UserName)
	is(t, err, store.ErrNotFound, "GetUser after rollback")
	_, err = s.GetUserByID(ctx, u.UserID)
	is(t, err, store.ErrNotFound, "GetUserByID after rollback")
	_, err = s.GetAccessKey(ctx, k.AccessKeyID)
	is(t, err, store.ErrNotFound, "GetAccessKey after rollback")
	us, err := s.ListUsers(ctx, "/")
	ok(t, err, "ListUsers after rollback")
	for _, x := range us {
		if x.UserID == u.UserID {
			t.Errorf("ListUsers after rollback still lists %s", u.UserName)
		}
	}
	// The store still works, and the name is free.
	ok(t, s.CreateUser(ctx, userRec(u.UserName, "/")), "CreateUser after rollback")
}

func testTxRollbackOnError(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := userRec("alice", "/", store.Tag{Key: "k", Value: "v"})
	k := keyRec("alice", at(1))
	err := s.InTx(ctx, func(tx store.Repo) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.CreateAccessKey(ctx, k); err != nil {
			return err
		}
		if err := tx.PutSetting(ctx, "k", "v"); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	is(t, err, errBoom, "InTx returns fn's error")
	_, err = s.GetSetting(ctx, "k")
	is(t, err, store.ErrNotFound, "GetSetting after rollback")
	assertNothingLeft(t, s, u, k)
}

func testTxRollbackOnStoreError(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, userRec("taken", "/"))
	u := userRec("alice", "/")
	k := keyRec("alice", at(1))
	err := s.InTx(ctx, func(tx store.Repo) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.CreateAccessKey(ctx, k); err != nil {
			return err
		}
		return tx.CreateUser(ctx, userRec("TAKEN", "/"))
	})
	is(t, err, store.ErrConflict, "InTx returns the conflict from inside")
	assertNothingLeft(t, s, u, k)
	_, err = s.GetUser(ctx, "taken")
	ok(t, err, "a user committed before the failed transaction survives")
}

func testTxRollbackOnPanic(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := userRec("alice", "/")
	k := keyRec("alice", at(1))
	var recovered any
	func() {
		defer func() { recovered = recover() }()
		_ = s.InTx(ctx, func(tx store.Repo) error {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			if err := tx.CreateAccessKey(ctx, k); err != nil {
				return err
			}
			panic(errBoom)
		})
	}()
	if recovered != errBoom { //nolint:errorlint // the panic value itself
		t.Fatalf("InTx: recovered %v, want the panic to go on with %v", recovered, errBoom)
	}
	assertNothingLeft(t, s, u, k)
}

// nester is implemented by transaction Repos that support nested InTx.
type nester interface {
	InTx(ctx context.Context, fn func(tx store.Repo) error) error
}

func testTxNested(t *testing.T, s store.Store) {
	ctx := t.Context()
	outer := userRec("outer", "/")
	inner := userRec("inner", "/")
	kept := userRec("kept", "/")
	nestable := false
	err := s.InTx(ctx, func(tx store.Repo) error {
		n, isNester := tx.(nester)
		if nestable = isNester; !nestable {
			return nil
		}
		if err := tx.CreateUser(ctx, outer); err != nil {
			return err
		}
		// A failed nested transaction undoes only its own writes...
		err := n.InTx(ctx, func(tx store.Repo) error {
			if err := tx.CreateUser(ctx, inner); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			return fmt.Errorf("nested InTx returned %v, want %v", err, errBoom)
		}
		// ...and a successful one is kept with the outer transaction.
		return n.InTx(ctx, func(tx store.Repo) error { return tx.CreateUser(ctx, kept) })
	})
	ok(t, err, "InTx")
	if !nestable {
		t.Skip("the transaction Repo has no InTx method; nesting is optional")
	}
	for _, name := range []string{"outer", "kept"} {
		_, err := s.GetUser(ctx, name)
		ok(t, err, "GetUser "+name)
	}
	_, err = s.GetUser(ctx, "inner")
	if err == nil {
		t.Log("note: a failed nested InTx left its writes behind (the implementation reuses the transaction without savepoints)")
	} else {
		is(t, err, store.ErrNotFound, "GetUser inner")
	}
}

// concurrency is how many goroutines the concurrency tests run at once.
const concurrency = 16

// parallel runs fn(i) for i in [0, n) on n goroutines started together and
// returns their errors.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

func testConcurrentCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	const perWorker = 10
	errs := parallel(concurrency, func(w int) error {
		for i := range perWorker {
			u := userRec(fmt.Sprintf("user-%02d-%02d", w, i), "/")
			if err := s.CreateUser(ctx, u); err != nil {
				return err
			}
			if err := s.CreateAccessKey(ctx, keyRec(u.UserName, at(i))); err != nil {
				return err
			}
		}
		return nil
	})
	for w, err := range errs {
		ok(t, err, fmt.Sprintf("worker %d", w))
	}
	us, err := s.ListUsers(ctx, "/")
	ok(t, err, "ListUsers")
	if len(us) != concurrency*perWorker {
		t.Errorf("ListUsers = %d users, want %d", len(us), concurrency*perWorker)
	}
}

func testConcurrentSameName(t *testing.T, s store.Store) {
	ctx := t.Context()
	spellings := []string{"racer", "Racer", "RACER", "rAcEr"}
	errs := parallel(concurrency, func(w int) error {
		return s.CreateUser(ctx, userRec(spellings[w%len(spellings)], "/"))
	})
	won := 0
	for w, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrConflict):
		default:
			t.Errorf("worker %d: %v, want nil or ErrConflict", w, err)
		}
	}
	if won != 1 {
		t.Errorf("%d creates of the same name succeeded, want 1", won)
	}

	// The same through InTx, with a second write in each transaction.
	errs = parallel(concurrency, func(w int) error {
		return s.InTx(ctx, func(tx store.Repo) error {
			u := userRec(fmt.Sprintf("tx-%d", w), "/")
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			return tx.CreateGroup(ctx, groupRec(spellings[w%len(spellings)], "/"))
		})
	})
	won = 0
	for w, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrConflict):
		default:
			t.Errorf("tx worker %d: %v, want nil or ErrConflict", w, err)
		}
	}
	if won != 1 {
		t.Errorf("%d transactions creating the same group succeeded, want 1", won)
	}
	// Only the winning transaction's user was committed.
	us, err := s.ListUsers(ctx, "/")
	ok(t, err, "ListUsers")
	if len(us) != 2 {
		t.Errorf("ListUsers = %v, want racer and the one committed tx-N user", names(us, userName))
	}
}

func testConcurrentTx(t *testing.T, s store.Store) {
	ctx := t.Context()
	const perWorker = 5
	errs := parallel(concurrency, func(w int) error {
		for i := range perWorker {
			name := fmt.Sprintf("tx-user-%02d-%02d", w, i)
			err := s.InTx(ctx, func(tx store.Repo) error {
				if err := tx.CreateUser(ctx, userRec(name, "/")); err != nil {
					return err
				}
				if err := tx.CreateAccessKey(ctx, keyRec(name, at(i))); err != nil {
					return err
				}
				if _, err := tx.GetUser(ctx, name); err != nil {
					return err
				}
				if i%2 == 1 {
					return errBoom // every other transaction rolls back
				}
				return nil
			})
			if err != nil && !errors.Is(err, errBoom) {
				return err
			}
		}
		return nil
	})
	for w, err := range errs {
		ok(t, err, fmt.Sprintf("worker %d", w))
	}
	us, err := s.ListUsers(ctx, "/")
	ok(t, err, "ListUsers")
	want := concurrency * ((perWorker + 1) / 2)
	if len(us) != want {
		t.Errorf("ListUsers = %d users, want %d (the committed half)", len(us), want)
	}
	for _, u := range us {
		ks, err := s.ListAccessKeys(ctx, u.UserName)
		ok(t, err, "ListAccessKeys")
		if len(ks) != 1 {
			t.Errorf("user %s has %d keys, want 1", u.UserName, len(ks))
		}
	}
}

func testConcurrentReadWrite(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, userRec("reader", "/"))
	k := keyRec("reader", at(0))
	ok(t, s.CreateAccessKey(ctx, k), "CreateAccessKey")
	errs := parallel(concurrency, func(w int) error {
		for i := range 20 {
			if w%2 == 0 {
				name := fmt.Sprintf("w-%02d-%02d", w, i)
				if err := s.CreateUser(ctx, userRec(name, "/")); err != nil {
					return err
				}
				if err := s.PutInlinePolicy(ctx, store.InlinePolicy{Owner: userRef(name), PolicyName: "p", Document: "{}"}); err != nil {
					return err
				}
				continue
			}
			if _, err := s.GetAccessKey(ctx, k.AccessKeyID); err != nil {
				return err
			}
			if _, err := s.ListUsers(ctx, "/"); err != nil {
				return err
			}
			if _, err := s.ListInlinePolicies(ctx, userRef("reader")); err != nil {
				return err
			}
		}
		return nil
	})
	for w, err := range errs {
		ok(t, err, fmt.Sprintf("worker %d", w))
	}
}
