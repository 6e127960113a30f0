package stackmove

import (
	"slices"
	"testing"
)

// TestMoved: work deeper than a new goroutine's stack moves it, and a
// call that needs no stack does not; GrowsOnce passes for a grow that
// leaves room for the work.
func TestMoved(t *testing.T) {
	SkipUnlessWorkGrows(t, func() { Deep(10) })
	var deep, shallow bool
	OnNewGoroutine(func() {
		shallow = Moved(func() {})
		deep = Moved(func() { Deep(10) })
	})
	if !deep || shallow {
		t.Fatalf("moved: by 5 KiB of work %v (want true), by nothing %v (want false)", deep, shallow)
	}
	GrowsOnce(t, "Deep(20)", func() { Deep(20) }, func() { Deep(10) })
}

// errorsOf keeps a test's failures instead of failing it.
type errorsOf struct {
	testing.TB
	errs []string
}

func (e *errorsOf) Errorf(format string, args ...any) { e.errs = append(e.errs, format) }

// TestGrowsOnceFails: GrowsOnce fails when grow does not grow the stack,
// and when the work grows it again after grow.
func TestGrowsOnceFails(t *testing.T) {
	SkipUnlessWorkGrows(t, func() { Deep(10) })
	for _, tc := range []struct {
		name       string
		grow, work func()
		want       []string
	}{
		{"no grow", func() {}, func() { Deep(10) }, []string{"%s did not grow the stack", "the work grew the stack again after %s"}},
		// ~4.5 KiB: to 8 KiB; the work's ~10.5 KiB takes it to 16 KiB.
		{"too small a grow", func() { Deep(8) }, func() { Deep(20) }, []string{"the work grew the stack again after %s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &errorsOf{TB: t}
			GrowsOnce(e, tc.name, tc.grow, tc.work)
			if !slices.Equal(e.errs, tc.want) {
				t.Errorf("failures %q, want %q", e.errs, tc.want)
			}
		})
	}
}
