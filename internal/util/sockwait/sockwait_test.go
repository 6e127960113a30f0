//go:build linux

package sockwait_test

import (
	"errors"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/util/sockwait"
)

// pair is a connected loopback TCP pair: ours is watched, peer writes.
type pair struct{ ours, peer *net.TCPConn }

func newPair(t *testing.T, ln net.Listener) pair {
	t.Helper()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return pair{ours: c.(*net.TCPConn), peer: s.(*net.TCPConn)}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func rawOf(t *testing.T, c *net.TCPConn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// woken is what a wait was called with.
type woken chan error

func (w woken) wake(err error) { w <- err }

// get waits for the wait's call (bounded).
func (w woken) get(t *testing.T, what string) error {
	t.Helper()
	select {
	case err := <-w:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the wait was not called", what)
		return nil
	}
}

// notYet fails if the wait was called already.
func (w woken) notYet(t *testing.T, what string) {
	t.Helper()
	select {
	case err := <-w:
		t.Fatalf("%s: the wait was called (%v) before the socket had anything", what, err)
	default:
	}
}

// TestWaiterWakes: an armed wait is called once the socket has
// something to give (bytes, before or after Arm; the peer's end; a
// reset), with nil; with net.ErrClosed when the Waiter is closed, or was;
// with an error when the connection was closed before Arm; and a second
// Arm while one is armed is refused. Each wait is armed again after a
// first one was called (the armed-again path of the epoll set).
func TestWaiterWakes(t *testing.T) {
	cases := []struct {
		name   string
		before func(t *testing.T, p pair, w *sockwait.Waiter) // before Arm
		after  func(t *testing.T, p pair, w *sockwait.Waiter) // after Arm, checked not called yet
		want   func(err error) bool
	}{
		{"bytes after Arm", nil, func(t *testing.T, p pair, _ *sockwait.Waiter) { write(t, p.peer) }, isNil},
		{"bytes before Arm", func(t *testing.T, p pair, _ *sockwait.Waiter) { write(t, p.peer); readable(t, p.ours) }, nil, isNil},
		{"peer's end", nil, func(t *testing.T, p pair, _ *sockwait.Waiter) { p.peer.CloseWrite() }, isNil},
		{"peer's reset", nil, func(t *testing.T, p pair, _ *sockwait.Waiter) { p.peer.SetLinger(0); p.peer.Close() }, isNil},
		{"Close while armed", nil, func(t *testing.T, _ pair, w *sockwait.Waiter) { w.Close() }, isClosed},
		{"Arm after Close", func(t *testing.T, _ pair, w *sockwait.Waiter) { w.Close() }, nil, isClosed},
		{"connection closed before Arm", func(t *testing.T, p pair, _ *sockwait.Waiter) { p.ours.Close() }, nil, isErr},
	}
	poller, err := sockwait.New()
	if err != nil {
		t.Fatal(err)
	}
	defer poller.Close()
	ln := listen(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 2 {
				p := newPair(t, ln)
				w, err := poller.Add(rawOf(t, p.ours))
				if err != nil {
					t.Fatal(err)
				}
				if round == 1 {
					// A first wait, called and consumed: this round's
					// Arm arms the socket again.
					got := make(woken, 1)
					w.Arm(got.wake)
					write(t, p.peer)
					if err := got.get(t, "first wait"); err != nil {
						t.Fatalf("first wait: %v", err)
					}
					drain(t, p.ours)
				}
				if tc.before != nil {
					tc.before(t, p, w)
				}
				got := make(woken, 2)
				w.Arm(got.wake)
				if tc.after != nil {
					got.notYet(t, tc.name)
					tc.after(t, p, w)
				}
				if err := got.get(t, tc.name); !tc.want(err) {
					t.Fatalf("round %d: the wait was called with %v", round, err)
				}
				if tc.name == "bytes after Arm" {
					drain(t, p.ours)
					w.Arm(got.wake) // nothing to read: armed
					refused := make(woken, 1)
					w.Arm(refused.wake) // a second wait while one is armed
					if err := refused.get(t, "second Arm"); err == nil {
						t.Fatal("a second Arm while one is armed was called with nil, want it refused")
					}
					got.notYet(t, "armed again")
					write(t, p.peer)
					if err := got.get(t, "armed again"); err != nil {
						t.Fatalf("armed again: %v", err)
					}
				}
				w.Close()
				w.Close() // twice: nothing more
			}
		})
	}
}

func isNil(err error) bool    { return err == nil }
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
func isErr(err error) bool    { return err != nil }

func write(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
}

// readable waits until c has a byte to read, without reading it: the
// waits are then armed on a socket that is ready already.
func readable(t *testing.T, c *net.TCPConn) {
	t.Helper()
	rc := rawOf(t, c)
	var peek [1]byte
	err := rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(err, syscall.EAGAIN)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func drain(t *testing.T, c net.Conn) {
	t.Helper()
	var b [16]byte
	if _, err := c.Read(b[:]); err != nil {
		t.Fatal(err)
	}
}

// TestIdleWaitsHoldNoGoroutine: many armed waits hold no goroutine each,
// only the ready sockets' waits are called, and closing the Poller calls
// the others with net.ErrClosed.
func TestIdleWaitsHoldNoGoroutine(t *testing.T) {
	const n = 200
	poller, err := sockwait.New()
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	pairs := make([]pair, n)
	for i := range pairs {
		pairs[i] = newPair(t, ln)
	}
	before := runtime.NumGoroutine()
	got := make([]woken, n)
	for i, p := range pairs {
		w, err := poller.Add(rawOf(t, p.ours))
		if err != nil {
			t.Fatal(err)
		}
		got[i] = make(woken, 1)
		w.Arm(got[i].wake)
	}
	if g := runtime.NumGoroutine(); g-before > 2 {
		t.Errorf("%d goroutines with %d waits armed, %d before: want no goroutine per wait", g, n, before)
	}
	ready := []int{3, 77, n - 1}
	for _, i := range ready {
		write(t, pairs[i].peer)
	}
	for _, i := range ready {
		if err := got[i].get(t, "ready socket"); err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
	}
	isReady := map[int]bool{}
	for _, i := range ready {
		isReady[i] = true
	}
	for i := range pairs {
		if !isReady[i] {
			got[i].notYet(t, "idle socket")
		}
	}
	if err := poller.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range pairs {
		if !isReady[i] {
			if err := got[i].get(t, "Poller closed"); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("socket %d: called with %v, want net.ErrClosed", i, err)
			}
		}
	}
	if _, err := poller.Add(rawOf(t, pairs[0].ours)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Add on a closed Poller: %v, want net.ErrClosed", err)
	}
}
