package sqlstore

import (
	"bytes"
	"sync"
	"time"

	"github.com/postern/postern/internal/store"
)

// presignCacheMax bounds the replay guard's cache: past it, expired
// entries are dropped and, if that is not enough, all of them (a cache
// may forget: a miss asks the database).
const presignCacheMax = 8192

// presignCache remembers the replay guard's rows (presign_uses) this
// process saw committed, so that a URL used again is answered without a
// write transaction. The client presigns once per second and target, so
// nearly every tunnel open after the first in a second presents a URL
// already recorded: its guard write was an INSERT that changed nothing
// plus a read-back, a write transaction of its own before the 101.
//
// Answering from memory is safe because a row never changes once
// inserted: the first use's address and times are facts, whichever
// process or replica reads them. A row goes away only when the sweep
// deletes it after its expiry (DeleteExpiredPresignUses), and an entry
// is never used at or after its ExpiresAt. Only rows read or written
// outside a caller's transaction are remembered (one inside InTx may
// still be rolled back); a first use is never answered from memory, so
// the race between two first uses is still the database's to decide.
type presignCache struct {
	mu sync.Mutex
	m  map[string]store.PresignUse // by string(SignatureHash)
}

// get returns the remembered first use of hash, if any and unexpired at
// now. The record's hash is the caller's own copy.
func (c *presignCache) get(hash []byte, now time.Time) (store.PresignUse, bool) {
	c.mu.Lock()
	u, ok := c.m[string(hash)]
	c.mu.Unlock()
	if !ok || !now.Before(u.ExpiresAt) {
		return store.PresignUse{}, false
	}
	u.SignatureHash = bytes.Clone(u.SignatureHash)
	return u, true
}

// put remembers u, a committed first use, unless it is expired at now
// (or never expires: such a row is left to the database).
func (c *presignCache) put(u store.PresignUse, now time.Time) {
	if !now.Before(u.ExpiresAt) {
		return
	}
	u.SignatureHash = bytes.Clone(u.SignatureHash)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]store.PresignUse)
	}
	if len(c.m) >= presignCacheMax {
		// A scan must free a quarter of the cache, or the next puts scan
		// it again, each under the lock gets wait on: past that, forget
		// all (a miss asks the database).
		c.forgetLocked(now)
		if len(c.m) > presignCacheMax*3/4 {
			clear(c.m)
		}
	}
	c.m[string(u.SignatureHash)] = u
}

// forget drops the entries that expire before t (the sweep deleted, or
// may delete, their rows).
func (c *presignCache) forget(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(t)
}

func (c *presignCache) forgetLocked(t time.Time) {
	for k, u := range c.m {
		if !t.Before(u.ExpiresAt) {
			delete(c.m, k)
		}
	}
}

// KnowsPresignUse reports whether RecordPresignUse, called outside a
// transaction at now, would answer the URL whose signature hashes to hash
// from memory: its first use is remembered and unexpired. The front door
// asks, so that a replay's refusal is known before an agent is asked to
// dial its target (and the answer needs no goroutine of its own).
func (s *Store) KnowsPresignUse(hash []byte, now time.Time) bool {
	s.presignUses.mu.Lock()
	u, ok := s.presignUses.m[string(hash)]
	s.presignUses.mu.Unlock()
	return ok && now.Before(u.ExpiresAt)
}
