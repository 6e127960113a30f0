package webterm

import "testing"

// SetQATestHook runs h at the named points of term's sessions (see
// testHook) until the test ends; sessions of other Terminals pass.
func SetQATestHook(tb testing.TB, term *Terminal, h func(point string)) {
	f := func(t *Terminal, point string) {
		if t == term {
			h(point)
		}
	}
	testHook.Store(&f)
	tb.Cleanup(func() { testHook.CompareAndSwap(&f, nil) })
}

// QAWithin is qaWithin, for the external tests.
var QAWithin = qaWithin
