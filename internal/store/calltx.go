package store

import (
	"context"
	"sync"
)

// Binding a transaction to a context.
//
// Code that uses a Store directly (an API action: h.Store.CreateUser(ctx,
// …), h.Store.InTx(ctx, …)) can be run, unchanged, inside one transaction
// that its caller opened: the caller binds the transaction to the context
// it passes (BindTx), and a Store that honours bindings (package sqlstore
// does) runs every call it receives with that context, or one derived from
// it, inside the bound transaction: reads see the transaction's writes,
// each write runs in a savepoint of it, and InTx nests in a savepoint.
// Nothing is committed before the caller commits. This is how an API
// call's changes and its audit record become one commit (package audit,
// Writer.InTx).
//
// Calls on a bound context must not run concurrently: a transaction is one
// connection. Once the binding is closed (the transaction is over), the
// context's calls run on their own again.

// TxBinding is a transaction bound to a context by BindTx.
type TxBinding struct {
	tx    Repo
	mu    sync.Mutex
	open  bool
	after []func()
}

type txKey struct{}

// BindTx returns a copy of ctx to which tx is bound, and the binding. The
// caller closes the binding before tx ends, and calls Committed once tx
// has committed.
func BindTx(ctx context.Context, tx Repo) (context.Context, *TxBinding) {
	b := &TxBinding{tx: tx, open: true}
	return context.WithValue(ctx, txKey{}, b), b
}

// BoundTx returns the transaction bound to ctx, or nil when there is none
// or its binding was closed.
func BoundTx(ctx context.Context) Repo {
	b, _ := ctx.Value(txKey{}).(*TxBinding)
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return nil
	}
	return b.tx
}

// AfterCommit runs fn once the transaction bound to ctx has committed, and
// never if it rolls back; with no transaction bound it runs fn at once.
// Effects outside the store that must follow a change, not precede it
// (disconnecting a revoked agent, closing tunnels), go through it.
func AfterCommit(ctx context.Context, fn func()) {
	b, _ := ctx.Value(txKey{}).(*TxBinding)
	if b != nil {
		b.mu.Lock()
		if b.open {
			b.after = append(b.after, fn)
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
	}
	fn()
}

// Close ends the binding: the context's calls no longer join the
// transaction.
func (b *TxBinding) Close() {
	b.mu.Lock()
	b.open = false
	b.mu.Unlock()
}

// Committed closes the binding and runs, in order, the functions given to
// AfterCommit.
func (b *TxBinding) Committed() {
	b.mu.Lock()
	b.open = false
	after := b.after
	b.after = nil
	b.mu.Unlock()
	for _, fn := range after {
		fn()
	}
}
