package frontdoor

import (
	"fmt"
	"runtime/debug"
)

// crashOnPanic, deferred by a handler once it has taken its connection
// over from net/http (the tunnel's upgrade), ends the process on a panic,
// as a panic on any other goroutine does. net/http recovers a handler's
// panic and, the connection being hijacked, leaves it open: the tunnel
// would keep its endpoint slot and its entry among the live tunnels, and
// its CloseTunnel would not be written while the process lives. After a
// crash the next start records the close from the store's journal of open
// tunnels. The panic is raised again on a goroutine of its own, where
// nothing recovers it, with the first goroutine's stack in its message.
func crashOnPanic() {
	v := recover()
	if v == nil {
		return
	}
	stack := debug.Stack()
	never := make(chan struct{})
	go func() {
		panic(fmt.Sprintf("%v [recovered in a tunnel's handler, raised again]\n\n%s", v, stack))
	}()
	<-never // the panic above ends the process
}
