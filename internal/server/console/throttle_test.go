package console

import (
	"net/netip"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/testclock"
)

// TestThrottleWindow: failures count per user name (any case) and per
// address (an IPv6 /64), expire with the window, and attempts that were
// not failures are taken back.
func TestThrottleWindow(t *testing.T) {
	clock := testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := newThrottle(2, time.Minute, clock.Now)
	a1 := netip.MustParseAddr("2001:db8::1")
	a2 := netip.MustParseAddr("2001:db8::2")      // same /64
	other := netip.MustParseAddr("2001:db8:1::1") // another /64
	for range 2 {
		if try, _ := th.begin("Alice", a1); try == nil {
			t.Fatal("refused within the allowance")
		}
	}
	steps := []struct {
		name string
		user string
		addr netip.Addr
		ok   bool
	}{
		{"same name, other case, other network", "alice", other, false},
		{"other name, same /64", "bob", a2, false},
		{"other name, other network", "bob", other, true},
	}
	for _, s := range steps {
		try, wait := th.begin(s.user, s.addr)
		if (try != nil) != s.ok {
			t.Fatalf("%s: allowed=%v, want %v", s.name, try != nil, s.ok)
		}
		if try != nil {
			try.forgive()
		} else if wait <= 0 || wait > time.Minute {
			t.Fatalf("%s: wait %v", s.name, wait)
		}
	}
	// The forgiven attempt left nothing behind: bob's network has its two.
	for i := range 3 {
		if try, _ := th.begin("carol", other); (try != nil) != (i < 2) {
			t.Fatalf("attempt %d from bob's network: allowed=%v", i, try != nil)
		}
	}
	clock.Advance(time.Minute)
	try, _ := th.begin("alice", a1)
	if try == nil {
		t.Fatal("still refused after the window")
	}
	try.succeed()
}
