package awsproto

import (
	"sync"
	"testing"

	"github.com/google/uuid"
)

// TestNewRequestID: request ids are random (version 4, RFC 4122 variant)
// UUIDs in their 36-character form, and distinct, across several refills
// of the pooled random buffers and from concurrent callers.
func TestNewRequestID(t *testing.T) {
	const per, callers = 300, 4 // 1,200 ids: many refills of 64
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				id := NewRequestID()
				u, err := uuid.Parse(id)
				if err != nil || len(id) != 36 || u.String() != id {
					t.Errorf("request id %q is not a UUID's canonical form (%v)", id, err)
					return
				}
				if u.Version() != 4 || u.Variant() != uuid.RFC4122 {
					t.Errorf("request id %q: version %d, variant %v", id, u.Version(), u.Variant())
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("request id %q returned twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != per*callers {
		t.Errorf("%d distinct ids, want %d", len(seen), per*callers)
	}
}
