package frontdoor

import "testing"

// QBSetHook runs f at the front door's test hook points (testHook) until
// the test ends.
func QBSetHook(tb testing.TB, f func(point string)) {
	testHook.Store(&f)
	tb.Cleanup(func() { testHook.CompareAndSwap(&f, nil) })
}
