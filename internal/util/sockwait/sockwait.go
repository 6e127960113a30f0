// Package sockwait waits for many idle sockets to have something to read
// with one goroutine for all of them, instead of one parked goroutine
// (and its stack, 2 KiB or more) per socket.
//
// A Poller holds an epoll set of its own (Linux). A Waiter is one socket
// in it: Arm asks for one call of a function once the socket has
// something to give (bytes, its end or an error) — at once when it has
// already — and the Poller's goroutine makes that call. The epoll set's
// own descriptor waits in the Go runtime's poller like any socket, so the
// Poller's goroutine is parked, not in a system call, while nothing
// happens.
//
// The runtime's poller wakes a goroutine parked in a read when its
// connection is closed; an epoll set does not tell when a socket in it is
// closed (the kernel drops it silently). So a Waiter must be closed
// (Close: an armed wait gets net.ErrClosed) before its connection is, or
// an armed wait is never called. Read deadlines of the connection do not
// end a wait either.
//
// Where there is no epoll, New and Default return errors.ErrUnsupported:
// callers wait on goroutines of their own.
package sockwait

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// Default returns the process's Poller, made on first use, or the error
// that made it unavailable (errors.ErrUnsupported where there is no
// epoll). It is never closed.
func Default() (*Poller, error) {
	defaultOnce.Do(func() { defaultPoller, defaultErr = New() })
	return defaultPoller, defaultErr
}

var (
	defaultOnce   sync.Once
	defaultPoller *Poller
	defaultErr    error
)

// Waiter is one socket of a Poller. Its methods are safe for concurrent
// use; a nil *Waiter's Close does nothing.
type Waiter struct {
	p  *Poller
	rc syscall.RawConn
	id uint64 // the socket's key in the Poller (waits), and the epoll event's data

	mu    sync.Mutex
	state waitState
	added bool        // the socket is in the epoll set (armed once)
	wake  func(error) // the armed wait's function
}

// waitState is where a Waiter is.
type waitState uint8

const (
	idle   waitState = iota // no wait armed
	armed                   // a wait armed, wake to call
	closed                  // Close was called: every Arm is answered at once
)

// Arm calls wake once, with nil, when the socket has something to give
// (bytes, its end or an error: the read that follows tells which), at
// once if it has now; with net.ErrClosed when the Waiter is (or gets)
// closed; with the error when the socket cannot be watched (its
// connection is closed). wake runs on the Poller's goroutine (or on the
// caller's, when Arm answers at once) and must not block: it starts the
// work on a goroutine of its own. One wait at a time: Arm again only
// after wake was called.
func (w *Waiter) Arm(wake func(error)) {
	w.mu.Lock()
	switch w.state {
	case closed:
		w.mu.Unlock()
		wake(net.ErrClosed)
		return
	case armed:
		w.mu.Unlock()
		wake(errArmed)
		return
	}
	// Set before the socket is armed: its event cannot be taken before
	// the mutex is given back.
	w.state, w.wake = armed, wake
	err := w.p.arm(w)
	if err != nil {
		w.state, w.wake = idle, nil
	}
	w.added = w.added || err == nil
	w.mu.Unlock()
	if err != nil {
		wake(err)
	}
}

// Close takes the socket out of the Poller; an armed wait is called with
// net.ErrClosed, as is every Arm after it. Call it before closing the
// connection. It may be called more than once.
func (w *Waiter) Close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.state == closed {
		w.mu.Unlock()
		return
	}
	wake := w.wake
	if w.added {
		w.p.remove(w)
	}
	w.state, w.wake = closed, nil
	w.mu.Unlock()
	w.p.forget(w.id)
	if wake != nil {
		wake(net.ErrClosed)
	}
}

// fire calls the armed wait of w, if any: its socket is ready.
func (w *Waiter) fire(err error) {
	w.mu.Lock()
	if w.state != armed {
		w.mu.Unlock()
		return
	}
	wake := w.wake
	w.state, w.wake = idle, nil
	w.mu.Unlock()
	wake(err)
}

// errArmed answers an Arm made while a wait is armed already.
var errArmed = errors.New("sockwait: a wait is armed already")
