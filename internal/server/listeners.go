package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
)

// listenAll opens a TCP listener on every address, in order; on a failure
// it closes those already open.
func listenAll(addrs []string) ([]net.Listener, error) {
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
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

// multiListener accepts from several listeners as one (the server's
// listen addresses behind one http.Server and one connection edge). Its
// address is the first listener's. Close closes them all.
type multiListener struct {
	lns   []net.Listener
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

// mergeListeners returns lns as one listener (lns[0] itself when alone).
func mergeListeners(lns []net.Listener) net.Listener {
	if len(lns) == 1 {
		return lns[0]
	}
	m := &multiListener{lns: lns, conns: make(chan net.Conn), errs: make(chan error), done: make(chan struct{})}
	for _, ln := range lns {
		go m.accept(ln)
	}
	return m
}

// accept hands ln's connections and errors to Accept until ln fails for
// good or m is closed. A temporary error (too many open files) is passed
// on, and accepting goes on: net/http backs off and calls Accept again.
func (m *multiListener) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case m.errs <- err:
			case <-m.done:
				return
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				continue
			}
			return
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

// Accept returns the next connection of any listener.
func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case <-m.done:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errs:
		return nil, err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close closes every listener.
func (m *multiListener) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		var errs []error
		for _, ln := range m.lns {
			errs = append(errs, ln.Close())
		}
		err = errors.Join(errs...)
	})
	return err
}

// Addr is the first listener's address.
func (m *multiListener) Addr() net.Addr { return m.lns[0].Addr() }
