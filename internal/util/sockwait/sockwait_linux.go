//go:build linux

package sockwait

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller waits for its Waiters' sockets with one epoll set and one
// goroutine. The zero value is not usable; make one with New.
type Poller struct {
	file *os.File        // the epoll set, in the runtime's poller
	rc   syscall.RawConn // file's
	done chan struct{}   // closed when the goroutine ended

	mu       sync.Mutex
	waits    map[uint64]*Waiter
	next     uint64
	isClosed bool
}

// New makes a Poller and starts its goroutine.
func New() (*Poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking: os.NewFile puts it in the runtime's poller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(fd), "sockwait")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sockwait: %w", err)
	}
	p := &Poller{file: f, rc: rc, done: make(chan struct{}), waits: map[uint64]*Waiter{}}
	go p.loop()
	return p, nil
}

// Add makes a Waiter for the socket rc (of a TCP connection, say).
func (p *Poller) Add(rc syscall.RawConn) (*Waiter, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed {
		return nil, net.ErrClosed
	}
	p.next++
	w := &Waiter{p: p, rc: rc, id: p.next}
	p.waits[w.id] = w
	return w, nil
}

// Close stops the Poller: armed waits are called with net.ErrClosed, as
// are later ones.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.isClosed {
		p.mu.Unlock()
		return nil
	}
	p.isClosed = true
	ws := make([]*Waiter, 0, len(p.waits))
	for _, w := range p.waits {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	for _, w := range ws {
		w.Close()
	}
	err := p.file.Close()
	<-p.done
	return err
}

// events is what a Waiter's socket is armed for: readable, the peer's
// end, once (then it waits for the next Arm); errors and hang-ups are
// always reported.
const events = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// arm adds w's socket to the set, or arms it again; w.mu is held.
func (p *Poller) arm(w *Waiter) error {
	op := unix.EPOLL_CTL_ADD
	if w.added {
		op = unix.EPOLL_CTL_MOD
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(uint32(w.id)), Pad: int32(uint32(w.id >> 32))}
	return p.ctl(w, op, &ev)
}

// remove takes w's socket out of the set; w.mu is held. A connection
// closed already was dropped by the kernel (and its descriptor number
// may be another socket's by now): Control then fails and nothing is
// removed.
func (p *Poller) remove(w *Waiter) {
	_ = p.ctl(w, unix.EPOLL_CTL_DEL, &unix.EpollEvent{})
}

// ctl is epoll_ctl on w's socket, each descriptor held open meanwhile
// (Control).
func (p *Poller) ctl(w *Waiter, op int, ev *unix.EpollEvent) error {
	var errno error
	err := w.rc.Control(func(sock uintptr) {
		cerr := p.rc.Control(func(ep uintptr) {
			errno = unix.EpollCtl(int(ep), op, int(sock), ev)
		})
		if errno == nil {
			errno = cerr
		}
	})
	if err != nil {
		return err
	}
	if errno != nil {
		return os.NewSyscallError("epoll_ctl", errno)
	}
	return nil
}

// forget drops the Waiter of id.
func (p *Poller) forget(id uint64) {
	p.mu.Lock()
	delete(p.waits, id)
	p.mu.Unlock()
}

// loop takes the set's events and calls their waits, until the Poller is
// closed.
func (p *Poller) loop() {
	defer close(p.done)
	var evs [128]unix.EpollEvent
	_ = p.rc.Read(func(ep uintptr) bool {
		for {
			n, errno := epollNow(ep, evs[:])
			switch errno {
			case 0:
			case unix.EINTR:
				continue
			default:
				return true // the set is gone (Close)
			}
			for _, ev := range evs[:n] {
				p.mu.Lock()
				w := p.waits[uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32]
				p.mu.Unlock()
				if w != nil {
					w.fire(nil)
				}
			}
			if n < len(evs) {
				return false // taken all: the runtime's poller waits for more
			}
		}
	})
}

// epollNow is epoll_pwait(2) without waiting, as a raw system call: it
// never blocks, and an ordinary one wakes the runtime's monitor thread
// (see internal/util/sockio).
func epollNow(ep uintptr, evs []unix.EpollEvent) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, ep, uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}
