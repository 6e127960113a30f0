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
// the first announce.
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
	for i, step := range []struct {
		at      time.Duration
		live    []string
		fail    error
		wantRun bool
	}{
		{0, nil, nil, false},                                                          // no announce yet
		{time.Second, []string{"r-a", "r-b"}, nil, true},                              // first known
		{2 * time.Second, []string{"r-b", "r-a"}, nil, false},                         // same set
		{3 * time.Second, []string{"r-a"}, errDB, true},                               // r-b gone: runs, fails
		{4 * time.Second, []string{"r-a"}, nil, true},                                 // retried
		{5 * time.Second, []string{"r-a"}, nil, false},                                // done for this set
		{4*time.Second + UnclosedInterval - time.Second, []string{"r-a"}, nil, false}, // not yet
		{4*time.Second + UnclosedInterval, []string{"r-a"}, nil, true},                // the interval passed
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
		if ran && !slices.Equal(calls[len(calls)-1], step.live) {
			t.Fatalf("step %d: swept with live %q, want %q", i, calls[len(calls)-1], step.live)
		}
	}
}
