package audit

// Commit signals: a test (or any waiter) that expects a record waits for
// the next commit instead of polling the store.

// Committed returns a channel closed at the next commit of records made
// through the Writer (a batch, an InTx call's records, a recovered close)
// after this call: take it, read the store, and wait on it when what was
// read is not there yet. It costs the commit path one atomic swap.
func (w *Writer) Committed() <-chan struct{} {
	if w == nil || w.b == nil {
		return nil // never closed: nothing commits
	}
	b := w.b
	for {
		if p := b.committed.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		if b.committed.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

// signalCommit closes the channel Committed handed out, if any.
func (b *Batcher) signalCommit() {
	if p := b.committed.Swap(nil); p != nil {
		close(*p)
	}
}
