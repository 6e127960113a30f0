//go:build !linux

package sockwait

import (
	"errors"
	"syscall"
)

// Poller is not available here (New: errors.ErrUnsupported).
type Poller struct{}

// New returns errors.ErrUnsupported: there is no epoll here.
func New() (*Poller, error) { return nil, errors.ErrUnsupported }

// Add returns errors.ErrUnsupported.
func (p *Poller) Add(rc syscall.RawConn) (*Waiter, error) { return nil, errors.ErrUnsupported }

// Close does nothing.
func (p *Poller) Close() error { return nil }

func (p *Poller) arm(w *Waiter) error { return errors.ErrUnsupported }
func (p *Poller) remove(w *Waiter)    {}
func (p *Poller) forget(id uint64)    {}
