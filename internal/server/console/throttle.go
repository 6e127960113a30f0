package console

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// throttle counts failed sign-ins per user name and per source address
// (an IPv6 address counts by its /64) in a sliding window, in this
// process: replicas count separately. An attempt is counted as a failure
// from its start (so that parallel attempts cannot pass the limit
// together) and forgiven when it turns out not to be one.
type throttle struct {
	mu       sync.Mutex
	attempts int
	window   time.Duration
	now      func() time.Time
	fails    map[string][]time.Time // key → failure times, oldest first
}

// maxThrottleKeys bounds the table; past it, keys whose failures have all
// left the window are dropped first, then the stalest.
const maxThrottleKeys = 100_000

func newThrottle(attempts int, window time.Duration, now func() time.Time) *throttle {
	if attempts < 1 {
		attempts = 5
	}
	if window <= 0 {
		window = 15 * time.Minute
	}
	return &throttle{attempts: attempts, window: window, now: now, fails: map[string][]time.Time{}}
}

// attempt is one sign-in attempt's hold on the throttle.
type attempt struct {
	t    *throttle
	keys []string
	at   time.Time
}

func userKey(name string) string { return "user:" + strings.ToLower(name) }

func addrKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}

// begin starts an attempt by userName (empty: none named) from addr. It
// returns nil, with how long until the next attempt may be made, when
// either has had its allowance of failures in the window.
func (t *throttle) begin(userName string, addr netip.Addr) (*attempt, time.Duration) {
	keys := []string{addrKey(addr)}
	if userName != "" {
		keys = append(keys, userKey(userName))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		f := t.prune(k, now)
		if len(f) >= t.attempts {
			if w := f[len(f)-t.attempts].Add(t.window).Sub(now); w > wait {
				wait = w
			}
		}
	}
	if wait > 0 {
		return nil, wait
	}
	if len(t.fails)+len(keys) > maxThrottleKeys {
		t.evict(now)
	}
	for _, k := range keys {
		t.fails[k] = append(t.fails[k], now)
	}
	return &attempt{t: t, keys: keys, at: now}, 0
}

// prune drops k's failures that left the window and returns the rest.
func (t *throttle) prune(k string, now time.Time) []time.Time {
	f := t.fails[k]
	i := 0
	for i < len(f) && !f[i].Add(t.window).After(now) {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(t.fails, k)
		return nil
	}
	t.fails[k] = f
	return f
}

// evict makes room: keys with no failure in the window go, then, while
// the table is still full, those whose last failure is oldest.
func (t *throttle) evict(now time.Time) {
	for k := range t.fails {
		t.prune(k, now)
	}
	for len(t.fails) >= maxThrottleKeys {
		var oldest string
		var at time.Time
		for k, f := range t.fails {
			if last := f[len(f)-1]; oldest == "" || last.Before(at) {
				oldest, at = k, last
			}
		}
		delete(t.fails, oldest)
	}
}

// forgive takes back the attempt's count: it was not a failure.
func (a *attempt) forgive() {
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	for _, k := range a.keys {
		f := a.t.fails[k]
		for i := len(f) - 1; i >= 0; i-- {
			if f[i].Equal(a.at) {
				f = append(f[:i], f[i+1:]...)
				break
			}
		}
		if len(f) == 0 {
			delete(a.t.fails, k)
		} else {
			a.t.fails[k] = f
		}
	}
}

// succeed ends a successful attempt: its own count is taken back and the
// user name's earlier failures are forgotten (the source address keeps
// its count: one account's success must not clear a spray's).
func (a *attempt) succeed() {
	a.forgive()
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	for _, k := range a.keys {
		if strings.HasPrefix(k, "user:") {
			delete(a.t.fails, k)
		}
	}
}
