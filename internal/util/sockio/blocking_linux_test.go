package sockio

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestNowOnBlockingSocket: ReadNow and WriteNow never wait, even on a
// socket left in blocking mode (a descriptor inherited, or one whose
// O_NONBLOCK was cleared through a dup's Fd): a raw read(2) or write(2)
// there would stall the thread and the runtime's P with it. ReadNow
// answers ErrWouldBlock on an empty socket; WriteNow returns short once
// the socket is full. A call still waiting after 10 s fails the test (its
// peer is then closed to end the call).
func TestNowOnBlockingSocket(t *testing.T) {
	tests := []struct {
		name string
		call func(rc syscall.RawConn) error
	}{
		{"ReadNow, nothing sent", func(rc syscall.RawConn) error {
			if _, err := ReadNow(rc, make([]byte, 16)); !errors.Is(err, ErrWouldBlock) {
				return errors.New("ReadNow: " + errString(err) + ", want ErrWouldBlock")
			}
			return nil
		}},
		{"WriteNow, peer not reading", func(rc syscall.RawConn) error {
			chunk := bytes.Repeat([]byte{'x'}, 64<<10)
			for range 4096 { // bounded: a socket's buffer fills within a few chunks
				n, err := WriteNow(rc, chunk)
				if err != nil {
					return errors.New("WriteNow: " + err.Error())
				}
				if n < len(chunk) {
					return nil
				}
			}
			return errors.New("WriteNow never returned short")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if fl, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK != 0 {
				t.Fatalf("the socket is not in blocking mode (flags %#x, %v)", fl, err)
			}
			f := os.NewFile(uintptr(fds[0]), "blocking")
			defer f.Close()
			peer := os.NewFile(uintptr(fds[1]), "peer")
			defer peer.Close()
			rc, err := f.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- tc.call(rc) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				peer.Close() // ends the waiting call
				<-done
				t.Fatal("the call waited on a socket in blocking mode")
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
