package store

import "time"

// ChangeWatch tells a poller when to re-read what it derived from a store
// (the relay's revoked agents, the front door's open tunnels): when the
// store's ChangeCounter moved since the last look, every full interval in
// any case, and every fallback interval when the store has no
// ChangeCounter. It is not safe for concurrent use.
type ChangeWatch struct {
	counter        ChangeCounter // nil when the store has none
	last           uint64        // the count at the last look
	lastCheck      time.Time     // when the last re-read was due
	full, fallback time.Duration
}

// NewChangeWatch starts a watch at now over st, whose changes it counts
// when st implements ChangeCounter.
func NewChangeWatch(st any, now time.Time, full, fallback time.Duration) *ChangeWatch {
	w := &ChangeWatch{lastCheck: now, full: full, fallback: fallback}
	w.counter, _ = st.(ChangeCounter)
	if w.counter != nil {
		w.last = w.counter.Changes()
	}
	return w
}

// Due reports whether a re-read is due at now, or force says it is; a
// re-read found due counts as done at now.
func (w *ChangeWatch) Due(now time.Time, force bool) bool {
	since := now.Sub(w.lastCheck)
	due := force || since >= w.full || w.counter == nil && since >= w.fallback
	if w.counter != nil {
		if c := w.counter.Changes(); c != w.last {
			w.last, due = c, true
		}
	}
	if due {
		w.lastCheck = now
	}
	return due
}
