package linkmux

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// sendQueueEmpty, which lets the receive loop write a window update
// itself, says empty for a socket that sent nothing, and not empty for
// one whose peer does not read (a write then waits): table-driven over
// the two, on a real loopback TCP pair.
func TestSendQueueEmpty(t *testing.T) {
	for _, tc := range []struct {
		name string
		fill bool // write until the socket takes no more
		want bool
	}{{"nothing sent", false, true}, {"peer not reading", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := smallBufPair(t, 4<<10)
			if tc.fill {
				// The peer reads nothing: the write stops, its bytes
				// queued, at the deadline (a probe, not a wait for
				// anything: the queue is full long before).
				_ = a.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := a.Write(make([]byte, 8<<20)); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("a write of 8 MiB to a peer that reads nothing: %v, want the deadline", err)
				}
			}
			rc, err := a.(syscall.Conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			if got := sendQueueEmpty(rc); got != tc.want {
				t.Fatalf("sendQueueEmpty = %v, want %v", got, tc.want)
			}
		})
	}
}
