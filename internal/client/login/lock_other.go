//go:build !unix

package login

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// staleLock is how old a lock file must be to be taken over: a program
// that died holding it.
const staleLock = 2 * time.Minute

// Lock takes profile's lock (PROFILE.lock in the cache folder, created
// exclusively), so that two programs renewing the same sign-in at once
// do not both spend the refresh token. It waits until ctx ends; a lock
// file older than two minutes is taken over.
func (c Cache) Lock(ctx context.Context, profile string) (unlock func(), err error) {
	if err := c.mkdir(); err != nil {
		return nil, err
	}
	path := c.lockPath(profile)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return func() { _ = os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("sign-in cache lock: %w", err)
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > staleLock {
			_ = os.Remove(path)
			continue
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("sign-in cache lock: another postern is renewing the sign-in: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
