package httpedge

import (
	"errors"
	"net"
	"sync"
)

// multiListener accepts from several listeners as one. Its address is the
// first listener's. Close closes them all.
type multiListener struct {
	lns   []net.Listener
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

// Merge returns lns as one listener (lns[0] itself when alone), so that
// the server's listen addresses are served by one http.Server behind one
// connection edge. Its address is the first listener's; Close closes them
// all.
func Merge(lns []net.Listener) net.Listener {
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
