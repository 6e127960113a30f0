package linkmux

import (
	"syscall"

	"github.com/postern/postern/internal/util/sockio"
)

// sendQueueEmpty reports whether the link's socket holds no byte waiting
// to be sent or acknowledged (SIOCOUTQ): a write of a few bytes then goes
// into its send buffer at once, whatever the peer does. The ioctl is
// sockio's raw one: the receive loop asks this for every window update
// it owes, and an ordinary system call there woke the agent's sysmon
// about twice per MB of a bulk upload (RESULTS.md, s10 QD).
func sendQueueEmpty(rc syscall.RawConn) bool {
	n, ok := sockio.Unsent(rc)
	return ok && n == 0
}
