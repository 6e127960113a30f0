package livetunnels

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/frontdoor"
)

// noTunnels is a front door that carries none.
type noTunnels struct{}

func (noTunnels) Tunnels() []frontdoor.TunnelInfo { return nil }
func (noTunnels) Terminate(func(frontdoor.TunnelInfo) bool, int, string, string) int {
	return 0
}

// The unclosed sweep runs once the live replicas are known, again when
// they change (in any order counts as the same), at least every
// UnclosedInterval, and at the next chance after a failure; never before
// the first announce. A replica that left the live ones is kept for
// WithdrawGrace (a replica that shuts down withdraws, then records the
// close of its tunnels): the sweep runs without it only then.
func TestUnclosedSweepSchedule(t *testing.T) {
	var live []string
	d, err := New(Config{FrontDoor: noTunnels{}, ReplicaID: "r-a", Store: nil, Live: func() []string { return live }})
	if err == nil {
		t.Fatal("New accepted a replica without a store")
	}
	d, err = New(Config{FrontDoor: noTunnels{}})
	if err != nil {
		t.Fatal(err)
	}
	d.cfg.Live = func() []string { return live }
	var calls [][]string
	var fail error
	d.SetUnclosedSweep(func(_ context.Context, l []string) error {
		calls = append(calls, slices.Clone(l))
		return fail
	})
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	errDB := errors.New("database down")
	g := WithdrawGrace
	for i, step := range []struct {
		at      time.Duration
		live    []string
		fail    error
		wantRun bool
		keep    []string // the replicas kept when it runs: live when nil
	}{
		{0, nil, nil, false, nil},                                                                     // no announce yet
		{time.Second, []string{"r-a", "r-b"}, nil, true, nil},                                         // first known
		{2 * time.Second, []string{"r-b", "r-a"}, nil, false, nil},                                    // same set
		{3 * time.Second, []string{"r-a"}, nil, false, nil},                                           // r-b withdrew: still kept
		{4 * time.Second, []string{"r-a", "r-c"}, nil, true, []string{"r-a", "r-c", "r-b"}},           // r-c joined
		{2*time.Second + g - time.Millisecond, []string{"r-a", "r-c"}, nil, false, nil},               // r-b's grace not over
		{2*time.Second + g, []string{"r-a", "r-c"}, errDB, true, nil},                                 // r-b gone: runs, fails
		{3*time.Second + g, []string{"r-c", "r-a"}, nil, true, nil},                                   // retried
		{4*time.Second + g, []string{"r-a", "r-c"}, nil, false, nil},                                  // done for this set
		{3*time.Second + g + UnclosedInterval - time.Second, []string{"r-a", "r-c"}, nil, false, nil}, // not yet
		{3*time.Second + g + UnclosedInterval, []string{"r-a", "r-c"}, nil, true, nil},                // the interval passed
	} {
		live, fail = step.live, step.fail
		before := len(calls)
		err := d.sweepUnclosed(t0.Add(step.at))
		ran := len(calls) > before
		if ran != step.wantRun {
			t.Fatalf("step %d (live %q): ran %v, want %v", i, step.live, ran, step.wantRun)
		}
		if !errors.Is(err, step.fail) || (step.fail == nil) != (err == nil) {
			t.Fatalf("step %d: error %v, want %v", i, err, step.fail)
		}
		want := step.keep
		if want == nil {
			want = step.live
		}
		if ran && !sameSet(calls[len(calls)-1], want) {
			t.Fatalf("step %d: swept keeping %q, want %q", i, calls[len(calls)-1], want)
		}
	}
}
