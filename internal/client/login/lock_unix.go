//go:build unix

package login

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Lock takes profile's lock (an flock on PROFILE.lock in the cache
// folder), so that two programs renewing the same sign-in at once (two
// AWS tools calling credential_process) do not both spend the refresh
// token: the second finds the first's result in the cache. It waits
// until ctx ends; the lock goes with the process if it dies.
func (c Cache) Lock(ctx context.Context, profile string) (unlock func(), err error) {
	if err := c.mkdir(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(c.lockPath(profile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sign-in cache lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("sign-in cache lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("sign-in cache lock: another postern is renewing the sign-in: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
