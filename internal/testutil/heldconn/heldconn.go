// Package heldconn is a connection whose writes a test can hold back and
// then send in one write: what was written meanwhile (several TLS records,
// several WebSocket frames) reaches the peer in one segment, as a busy
// network delivers it.
package heldconn

import (
	"net"
	"sync"
)

// Conn passes writes on to the connection it wraps, except while held.
type Conn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  []byte
}

// Write passes p on, or keeps it while the connection is held.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// Hold keeps the writes that follow until Release.
func (c *Conn) Hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = true
}

// Release sends what was kept in one write and passes later writes on.
func (c *Conn) Release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = nil
	return err
}
