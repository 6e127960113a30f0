package netns

import "golang.org/x/sys/unix"

// setns moves the calling thread into the network namespace fd names.
func setns(fd int) error { return unix.Setns(fd, unix.CLONE_NEWNET) }
