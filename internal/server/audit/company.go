package audit

import (
	"time"
)

// Group commit of read-only records in busy periods.
//
// The record of a read-only call does not wait for the disk (the store's
// unsynced commit), so its commit is CPU, and with SQLite a commit of
// eight records costs about half the CPU per record of eight commits of
// one (the write-ahead log's page writes are shared; sqlstore stores such
// a batch as one statement). With 8 concurrent SDK callers the server
// sees the calls one after the other, not together, so the flush
// goroutine found one record per commit. In a busy period (the last
// commit had company: it held several records, or others queued while it
// ran; and it ended less than busyWithin ago) it therefore waits, before
// it commits a batch of nothing but read-only records, for more records
// to queue: until companyBatch have, or companyWait after it first saw
// the batch. A record that must be durable (a write's, a tunnel's) never
// waits, nor does any batch it joins. A lone caller (a CLI's look-ups one
// after the other, a tunnel's cold start) never finds company, so its
// records are committed at once, however quickly they follow each other.
// The answer of a read-only call may so come up to companyWait later,
// only while calls overlap; each still waits for its record's commit.

const (
	// companyWait bounds how long a batch of read-only records waits for
	// company.
	companyWait = 400 * time.Microsecond
	// companyBatch is the batch that waits no longer: eight records share
	// a commit for about half the CPU each of one alone.
	companyBatch = 8
	// busyWithin is how recent the last commit must be for the server to
	// count as busy.
	busyWithin = time.Millisecond
)

// expectCompany reports whether the first n queued records of a busy
// period (the last commit, which had company, ended at last) should wait
// for more: fewer than companyBatch, all read-only, the last commit
// recent. It is called with b.mu held.
func (b *Batcher) expectCompany(n int, last time.Time) bool {
	if n >= companyBatch || b.companyWait <= 0 || b.wake == nil || last.IsZero() ||
		b.now().Sub(last) > busyWithin {
		return false
	}
	for _, p := range b.queue[:n] {
		if !readOnlyRecord(&p.ev) {
			return false
		}
	}
	return true
}

// now is the Batcher's clock (tests replace it).
func (b *Batcher) now() time.Time {
	if b.clock != nil {
		return b.clock()
	}
	return time.Now()
}

// waitForCompany is called with b.mu held, and returns with it released,
// once an Append queued another record or the deadline passed.
func (b *Batcher) waitForCompany(t **time.Timer, deadline time.Time) {
	d := deadline.Sub(b.now())
	if d <= 0 {
		b.mu.Unlock()
		return
	}
	b.idle = true
	b.mu.Unlock()
	if *t == nil {
		*t = time.NewTimer(d)
	} else {
		(*t).Reset(d) // since Go 1.23 no stale tick survives Reset
	}
	select {
	case <-b.wake:
		(*t).Stop()
		return
	case <-(*t).C:
	}
	b.mu.Lock()
	if b.idle { // no Append since
		b.idle = false
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	<-b.wake // the Append that cleared idle sent its token under b.mu
}
