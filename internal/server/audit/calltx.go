package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/postern/postern/internal/store"
)

// ErrNotCommitted is returned (wrapped) by InTx when the work succeeded
// but its transaction, with its records, could not be committed: nothing
// of it is stored, not even its records.
var ErrNotCommitted = errors.New("audit: the work and its records were not committed")

// callKey marks the context of work run by InTx.
type callKey struct{}

// callRecords are the records written by one attempt of work run by InTx,
// waiting for its outcome.
type callRecords struct {
	mu   sync.Mutex
	open bool
	evs  []store.Event
}

// add keeps e for the transaction; false once the work has returned (the
// caller then writes e on its own).
func (c *callRecords) add(e store.Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open {
		c.evs = append(c.evs, e)
	}
	return c.open
}

// close ends the attempt and returns its records.
func (c *callRecords) close() []store.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open = false
	return c.evs
}

// Transactional reports whether InTx commits records with the work's
// changes (the Writer's store has transactions).
func (w *Writer) Transactional() bool { return w != nil && w.txs != nil }

// InTx runs fn, the work of one API call, so that what it changes and what
// it records are one commit: fn runs in one store transaction bound to the
// context it is given (store.BindTx), so that every store call made with
// that context joins the transaction, and every record written with
// Write(ctx) is inserted in it last, just before the commit. A crash
// therefore leaves either the changes with their records or neither.
//
// When fn returns an error the transaction rolls back (nothing fn changed
// stays), and the records fn wrote are then stored on their own (they
// record a failure, which must be on record too); InTx returns fn's error
// as is. When fn succeeds but the commit fails, nothing is stored, not
// even fn's records, and InTx returns an error wrapping ErrNotCommitted.
// Functions given to store.AfterCommit with fn's context run after the
// commit.
//
// fn may run more than once (store.Store.InTx runs a transaction again
// after a serialization failure); only the last attempt's records count.
// Without a transactional store, fn runs with ctx and its records are
// written at once.
func (w *Writer) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if !w.Transactional() {
		return fn(ctx)
	}
	var (
		fnErr   error
		binding *store.TxBinding
		recs    *callRecords
		evs     []store.Event
	)
	err := w.txs.InTx(ctx, func(tx store.Repo) error {
		// Each attempt starts afresh.
		fnErr, evs = nil, nil
		bctx, b := store.BindTx(ctx, tx)
		binding, recs = b, &callRecords{open: true}
		err := fn(context.WithValue(bctx, callKey{}, recs))
		b.Close()
		evs = recs.close()
		if err != nil {
			fnErr = err
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		if err := tx.AppendEvents(ctx, evs); err != nil {
			return fmt.Errorf("audit: store %d records: %w", len(evs), err)
		}
		return nil
	})
	switch {
	case err == nil:
		binding.Committed()
		w.b.toSinks(evs)
		return nil
	case fnErr != nil && recs != nil:
		// The work failed and was rolled back; its records say so.
		var errs []error
		for _, e := range evs {
			if werr := w.b.Append(context.WithoutCancel(ctx), e); werr != nil {
				errs = append(errs, fmt.Errorf("audit: store %s event: %w", e.EventName, werr))
			}
		}
		if len(errs) > 0 {
			return errors.Join(append([]error{fnErr}, errs...)...)
		}
		return fnErr
	}
	return fmt.Errorf("%w: %w", ErrNotCommitted, err)
}
