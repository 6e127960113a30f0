//go:build unix && !linux

package client

import "golang.org/x/sys/unix"

// readNow and peekNow: see readnow_linux.go; elsewhere ordinary system
// calls (raw ones are not the platform's interface).
func readNow(fd uintptr, p []byte) (int, error) { return unix.Read(int(fd), p) }

func peekNow(fd uintptr, p []byte) error {
	_, _, err := unix.Recvfrom(int(fd), p, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err
}
