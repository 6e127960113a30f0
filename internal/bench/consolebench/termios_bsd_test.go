//go:build darwin || freebsd || netbsd || openbsd

package consolebench

import "golang.org/x/sys/unix"

// ioctlGetTermios is the ioctl reading a terminal's settings (the BSDs' name).
const ioctlGetTermios = unix.TIOCGETA
