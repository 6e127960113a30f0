package frontdoor

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/relay"
	"github.com/postern/postern/internal/testutil/stackmove"
)

// sh18Moved runs 5 KiB of work and reports whether the stack moved
// meanwhile (stackmove).
func sh18Moved() bool { return sh18MovedBy(10) }

// sh18MovedBy is sh18Moved with n × 0.5 KiB of work, in small frames as
// the real work's (the dial request's write through crypto/tls, a woken
// reading's frames and their write to the agent).
func sh18MovedBy(n int) bool { return stackmove.Moved(func() { stackmove.Deep(n) }) }

// TestSH18GoroutinesGrowTheirStackFirst: the dial's goroutine
// (pendingDial.dial) and the goroutine of a Poller's wake-up
// (clientIdler.woken) start their work on a stack grown to 8 KiB, so work
// that needs 5 KiB does not grow it again deep inside; a goroutine of the
// runtime's usual 2 KiB start (the control) does. Before, both grew two
// or three times inside crypto/tls, the audit record or the link write
// (seen on the server with a uprobe on runtime.copystack).
func TestSH18GoroutinesGrowTheirStackFirst(t *testing.T) {
	stackmove.SkipUnlessWorkGrows(t, func() { stackmove.Deep(10) })
	for _, tc := range []struct {
		name string
		// start starts the goroutine under test, whose work is work.
		start func(work func())
	}{
		{"pendingDial.dial", func(work func()) {
			p := &pendingDial{done: make(chan struct{})}
			go p.dial(func() (relay.Stream, string, error) {
				work()
				return nil, "", errors.New("no dial in this test")
			})
		}},
		{"clientIdler.woken", func(work func()) {
			d := &clientIdler{end: func() {}, work: func(park, woke bool) bool {
				work()
				return true // the tunnel ends: no next wait to arm
			}}
			d.woken(nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			moved := make(chan bool, 1)
			tc.start(func() { moved <- sh18Moved() })
			if <-moved {
				t.Errorf("the goroutine's work grew its stack: it was not grown to 8 KiB first")
			}
		})
	}
	// A reading that waits on its goroutine until the tunnel ends (the
	// Poller could not watch the socket) is not grown: an idle tunnel
	// would hold the larger stack.
	moved := make(chan bool, 1)
	d := &clientIdler{end: func() {}, work: func(park, woke bool) bool {
		moved <- sh18Moved()
		return true
	}}
	d.woken(errors.New("the socket cannot be watched"))
	if !<-moved {
		t.Errorf("the goroutine of a reading that waits until the tunnel ends was grown")
	}
}

// sh18Stop ends the request of TestSH18ServeHTTPGrowsTheStackFirst.
type sh18Stop struct{}

// TestSH18ServeHTTPGrowsTheStackFirst: the front door's handler grows its
// goroutine's stack (net/http's connection goroutine, at 8 KiB after the
// TLS handshake) to 16 KiB before its checks, so the checks' ~10 KiB
// (the presigned URL's parsing) do not grow it deep inside them; a fresh
// goroutine (the control) does grow for that work. The work runs in the
// clock (Config.Now, the handler's first call after the growth), which
// then stops the request.
func TestSH18ServeHTTPGrowsTheStackFirst(t *testing.T) {
	const n = 18 // ~9.5 KiB of frames
	stackmove.SkipUnlessWorkGrows(t, func() { stackmove.Deep(n) })
	moved := make(chan bool, 1)
	f := &FrontDoor{cfg: Config{Now: func() time.Time {
		moved <- sh18MovedBy(n)
		panic(sh18Stop{})
	}}}
	go func() {
		defer func() {
			if r := recover(); r != (sh18Stop{}) {
				panic(r)
			}
		}()
		f.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/openTunnel", nil))
	}()
	if <-moved {
		t.Error("the handler's checks grew its goroutine's stack: it was not grown to 16 KiB first")
	}
}
