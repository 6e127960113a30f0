package iamapi

import (
	"net/http"
	"sync"
	"time"

	"github.com/postern/postern/internal/wire/awsproto"
)

// Bounds on guesses of a secret through the API, per key: wrong MFA codes
// sent to STS (AssumeRole's TokenCode) per device, and wrong old
// passwords sent to ChangePassword per user. Past maxGuesses in
// guessWindow, the key's attempts are refused, right or wrong, until the
// window passes. The console's sign-in has its own throttle (package
// console).
const (
	maxGuesses  = 5
	guessWindow = 15 * time.Minute
	// maxGuessKeys bounds the table; past it, keys whose failures have
	// all left the window are dropped, then the whole table.
	maxGuessKeys = 100_000
)

// guessCounter counts wrong guesses per key in a sliding window, in this
// process (replicas count separately).
type guessCounter struct {
	mu    sync.Mutex
	fails map[string][]time.Time // key → failure times, oldest first
}

// tooManyPasswordGuesses is ChangePassword's answer while the user's
// wrong old passwords are over the bound, whether or not this one is
// right (EntityTemporarilyUnmodifiable, 409).
func tooManyPasswordGuesses() *awsproto.Error {
	return awsproto.Errorf(http.StatusConflict, "EntityTemporarilyUnmodifiable",
		"Too many wrong passwords were sent to change this user's password; wait %d minutes and try again.", int(guessWindow/time.Minute))
}

func newGuessCounter() *guessCounter { return &guessCounter{fails: map[string][]time.Time{}} }

// blocked reports whether serial has had its allowance of wrong codes in
// the window ending now.
func (m *guessCounter) blocked(serial string, now time.Time) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.prune(serial, now)) >= maxGuesses
}

// failed records a wrong code for serial.
func (m *guessCounter) failed(serial string, now time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.fails) >= maxGuessKeys {
		for k := range m.fails {
			m.prune(k, now)
		}
		if len(m.fails) >= maxGuessKeys {
			clear(m.fails)
		}
	}
	m.fails[serial] = append(m.prune(serial, now), now)
}

// succeeded forgets serial's wrong codes (its holder has the device).
func (m *guessCounter) succeeded(serial string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.fails, serial)
}

// prune drops serial's failures older than the window; m.mu is held.
func (m *guessCounter) prune(serial string, now time.Time) []time.Time {
	f := m.fails[serial]
	i := 0
	for i < len(f) && !f[i].Add(guessWindow).After(now) {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(m.fails, serial)
		return nil
	}
	m.fails[serial] = f
	return f
}
