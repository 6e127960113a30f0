package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
)

// listenAll opens a TCP listener on every address, in order; on a failure
// it closes those already open. The connections they accept have TCP
// keepalive on (listenConfig).
func listenAll(addrs []string) ([]net.Listener, error) {
	lc := listenConfig()
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := lc.Listen(context.Background(), "tcp", a)
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("server: listen on %s: %w", a, err)
		}
		lns = append(lns, ln)
	}
	if len(lns) == 0 {
		return nil, errors.New("server: no listen address")
	}
	return lns, nil
}

// inheritedListeners are the listening sockets open as the file
// descriptors fds (--listen-fd).
func inheritedListeners(fds []int) ([]net.Listener, error) {
	var lns []net.Listener
	for _, fd := range fds {
		if fd < 3 {
			closeAll(lns)
			return nil, fmt.Errorf("server: --listen-fd %d: not an inherited descriptor (0-2 are stdin, stdout and stderr)", fd)
		}
		f := os.NewFile(uintptr(fd), fmt.Sprintf("listen-fd-%d", fd))
		if f == nil {
			closeAll(lns)
			return nil, fmt.Errorf("server: --listen-fd %d: not an open descriptor", fd)
		}
		ln, err := net.FileListener(f)
		f.Close() // ln holds its own duplicate
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("server: --listen-fd %d: %w", fd, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}
