//go:build linux

package sockio

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

const raw = true

// readFD is read(2) on fd as a raw system call (see the package comment):
// Socket's reads. The socket is non-blocking: the call never waits.
func readFD(fd uintptr, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// recvNowFD is recvfrom(2) of up to len(p) bytes with MSG_DONTWAIT on fd
// as a raw system call: ReadNow's read, which never waits even on a
// socket in blocking mode (a raw read(2) there would stall the thread and
// the runtime's P with it).
func recvNowFD(fd uintptr, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)),
		syscall.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// sendNowFD is sendto(2) with MSG_DONTWAIT on fd as a raw system call:
// WriteNow's write, which never waits even on a socket in blocking mode
// (EAGAIN when it has no room).
func sendNowFD(fd uintptr, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)),
		syscall.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// peekFD is recvfrom(2) of up to len(p) bytes with MSG_PEEK|MSG_DONTWAIT
// on fd as a raw system call: it tells whether the socket has something
// to give (0, or the error that ended it) or would block (EAGAIN),
// without taking bytes and without waiting. p must not be empty.
func peekFD(fd uintptr, p []byte) syscall.Errno {
	_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return e
}

func (s Socket) read(p []byte) (int, error) {
	return s.readBorrowed(func() []byte { return p }, func() {})
}

func (s Socket) readBorrowed(borrow func() []byte, giveBack func()) (int, error) {
	var n int
	var errno syscall.Errno
	err := s.rc.Read(func(fd uintptr) bool {
		p := borrow()
		if len(p) == 0 {
			return true // nothing to read into: n = 0, as for a Read of nothing
		}
		for {
			r, e := readFD(fd, p)
			switch e {
			case 0:
				n = r
				if n == 0 {
					n = -1 // the peer's end
				}
				return true
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				giveBack()
				return false // the poller waits for readability, then calls again
			default:
				errno = e
				return true
			}
		}
	})
	switch {
	case err != nil:
		return 0, err // closed, or a deadline: already a *net.OpError
	case errno != 0:
		return 0, s.opError("read", os.NewSyscallError("read", errno))
	case n < 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s Socket) wait() error {
	var peek [1]byte
	var errno syscall.Errno
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			switch e := peekFD(fd, peek[:]); e {
			case 0:
				return true
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
	})
	if err != nil {
		return err
	}
	if errno != 0 {
		return s.opError("read", os.NewSyscallError("recvfrom", errno))
	}
	return nil
}

// writeFD is write(2) on fd as a raw system call: Socket's writes. The
// socket is non-blocking: the call never waits (EAGAIN when it has no
// room).
func writeFD(fd uintptr, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

func (s Socket) write(p []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := s.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			r, e := writeFD(fd, p[n:])
			switch e {
			case 0:
				n += r
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // the poller waits for room, then calls again
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, s.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
}
