package client

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// goid is the calling goroutine's id, from its stack's header line.
func goid(t *testing.T) uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, err := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	if err != nil {
		t.Fatalf("goroutine id: %v", err)
	}
	return id
}

// TestIdleOneGoroutinePerWait: idle runs each work on the goroutine that
// waited for it (no second goroutine woken per wait), each wait on a new
// goroutine that has run no work before it (its stack holds only the
// wait), and the first work where start says: on the caller before idle
// returns (workHere), on a new goroutine (workOnNew), or after a first
// wait (waitFirst). end runs on the last work's goroutine.
func TestIdleOneGoroutinePerWait(t *testing.T) {
	cases := []struct {
		name  string
		start idleStart
	}{
		{"waitFirst", waitFirst},
		{"workHere", workHere},
		{"workOnNew", workOnNew},
	}
	const works = 4
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			type event struct {
				what string // "wait", "work", "end"
				g    uint64
			}
			events := make(chan event, 3*works)
			done := make(chan struct{})
			n := 0
			caller := goid(t)
			idle(tc.start, func() error {
				events <- event{"wait", goid(t)}
				return nil
			}, func(error) bool {
				events <- event{"work", goid(t)}
				n++
				return n == works
			}, func() {
				events <- event{"end", goid(t)}
				close(done)
			})
			returned := len(events)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the copy did not end")
			}
			close(events)
			var got []event
			for e := range events {
				got = append(got, e)
			}
			seen := map[uint64]bool{caller: true}
			first := got[0]
			switch tc.start {
			case workHere:
				if first.what != "work" || first.g != caller || returned == 0 {
					t.Fatalf("first %v (caller %d, %d events before idle returned): want the first work on the caller before idle returns", first, caller, returned)
				}
			case workOnNew:
				if first.what != "work" || first.g == caller {
					t.Fatalf("first %v (caller %d): want the first work on a new goroutine", first, caller)
				}
			case waitFirst:
				if first.what != "wait" || first.g == caller {
					t.Fatalf("first %v (caller %d): want a first wait on a new goroutine", first, caller)
				}
			}
			var last uint64
			for i, e := range got {
				switch e.what {
				case "wait":
					if seen[e.g] {
						t.Errorf("event %d: a wait on goroutine %d, which ran before: want a new goroutine per wait\n%v", i, e.g, got)
					}
				case "work":
					if i > 0 && got[i-1].what == "wait" && got[i-1].g != e.g {
						t.Errorf("event %d: a work on goroutine %d after a wait on %d: want it on the goroutine that waited\n%v", i, e.g, got[i-1].g, got)
					}
				case "end":
					if e.g != last {
						t.Errorf("end on goroutine %d, the last work on %d\n%v", e.g, last, got)
					}
				}
				seen[e.g] = true
				last = e.g
			}
			if w := len(got); w != 2*works-boolInt(tc.start != waitFirst)+1 {
				t.Errorf("%d events, want %d works, a wait before each (but a first that runs at once) and an end: %v", w, works, got)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
