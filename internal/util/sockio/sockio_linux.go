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
	o := getOp()
	o.p = p
	return s.readOp(o)
}

func (s Socket) readBorrowed(borrow func() []byte, giveBack func()) (int, error) {
	o := getOp()
	o.borrow, o.giveBack = borrow, giveBack
	return s.readOp(o)
}

// readOp makes o's read (op.readFD) once the socket has something, and
// returns o to the pool.
func (s Socket) readOp(o *op) (int, error) {
	err := s.rc.Read(o.read)
	n, errno := o.n, o.errno
	o.put()
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
	o := getOp()
	err := s.rc.Read(o.wait)
	errno := o.errno
	o.put()
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
	o := getOp()
	o.p = p
	err := s.rc.Write(o.write)
	n, errno := o.n, o.errno
	o.put()
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, s.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
}
