package consolebench

import "golang.org/x/sys/unix"

// ioctlGetTermios is the ioctl reading a terminal's settings (Linux's name).
const ioctlGetTermios = unix.TCGETS
