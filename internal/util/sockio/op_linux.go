package sockio

import (
	"sync"
	"syscall"
)

// op is one call's state for the runtime poller's callback (the function
// given to syscall.RawConn's Read or Write). A closure given there escapes
// to the heap with every variable it captures: two or three allocations
// per system call, which were two thirds of a bulk transfer's allocations
// (~650 per MB through two hops, BenchmarkTunnelThroughput -benchmem) and
// the collector's work that follows them. Ops are pooled, each with its
// callbacks made once, so that a read or write allocates nothing.
type op struct {
	p        []byte        // the bytes to read into or write
	borrow   func() []byte // readBorrowed's borrow (nil: read into p)
	giveBack func()        // readBorrowed's giveBack (nil: none)
	n        int           // bytes read or written; -1: the peer's end (read)
	errno    syscall.Errno // the call's error
	peek     [1]byte       // wait's peek

	read, write, sendNow, wait func(fd uintptr) bool // bound to this op once
}

var ops = sync.Pool{New: func() any {
	o := &op{}
	o.read, o.write, o.sendNow, o.wait = o.readFD, o.writeFD, o.sendNowFD, o.waitFD
	return o
}}

// getOp returns a cleared op; give it back with put once its results were
// read.
func getOp() *op { return ops.Get().(*op) }

// put clears o (it holds no buffer or callback of its caller's while
// pooled) and returns it to the pool.
func (o *op) put() {
	o.p, o.borrow, o.giveBack, o.n, o.errno = nil, nil, nil, 0, 0
	ops.Put(o)
}

// readFD is Socket.readBorrowed's callback: one read(2) into the buffer
// (borrowed just before it, when borrow is set), or false to wait for
// readability (after giving the buffer back) when the socket has nothing.
func (o *op) readFD(fd uintptr) bool {
	p := o.p
	if o.borrow != nil {
		p = o.borrow()
	}
	if len(p) == 0 {
		return true // nothing to read into: n = 0, as for a Read of nothing
	}
	for {
		r, e := readFD(fd, p)
		switch e {
		case 0:
			o.n = r
			if r == 0 {
				o.n = -1 // the peer's end
			}
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if o.giveBack != nil {
				o.giveBack()
			}
			return false // the poller waits for readability, then calls again
		default:
			o.errno = e
			return true
		}
	}
}

// writeFD is Socket.write's callback: write(2) until all of p is written,
// or false to wait for room.
func (o *op) writeFD(fd uintptr) bool {
	for o.n < len(o.p) {
		r, e := writeFD(fd, o.p[o.n:])
		switch e {
		case 0:
			o.n += r
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // the poller waits for room, then calls again
		default:
			o.errno = e
			return true
		}
	}
	return true
}

// sendNowFD is WriteNow's callback: sendto(2) with MSG_DONTWAIT until p
// is written or the socket is full; it never waits.
func (o *op) sendNowFD(fd uintptr) bool {
	for o.n < len(o.p) {
		r, e := sendNowFD(fd, o.p[o.n:])
		switch e {
		case 0:
			o.n += r
		case syscall.EINTR:
		case syscall.EAGAIN:
			return true // full: do not wait
		default:
			o.errno = e
			return true
		}
	}
	return true
}

// waitFD is Socket.wait's callback: a one-byte peek that tells whether the
// socket has something to give, or false to wait for readability.
func (o *op) waitFD(fd uintptr) bool {
	for {
		switch e := peekFD(fd, o.peek[:]); e {
		case 0:
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			o.errno = e
			return true
		}
	}
}
