package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/postern/postern/internal/util/filelock"
)

// LockStateDir makes sure that only this process runs an agent from dir
// (created with mode 0700 if missing): two agents with one identity would
// take each other's link to the server in turns. It holds an exclusive
// lock on dir/agent.lock (package filelock), which records this process's
// id, until unlock is called or the process exits (the kernel releases it
// even after a kill -9). When another process holds it, the error is a
// *StateDirInUseError naming that process. A permission error says who
// owns the directory when that is another user (stateDirHint): this
// is where an agent run as another user than the first meets it.
func LockStateDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: state directory: %w", stateDirHint(err, dir))
	}
	unlock, err = filelock.Lock(filepath.Join(dir, lockFile))
	var held *filelock.HeldError
	switch {
	case errors.As(err, &held):
		return nil, &StateDirInUseError{Dir: dir, PID: held.PID}
	case err != nil:
		return nil, fmt.Errorf("agent: lock the state directory: %w", stateDirHint(err, dir))
	}
	return unlock, nil
}
