//go:build !unix

package agent

import (
	"fmt"
	"os"
)

// LockStateDir creates dir; on this platform it takes no lock (see the
// unix version).
func LockStateDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: state directory: %w", err)
	}
	return func() {}, nil
}
