//go:build !unix

package webterm

import (
	"errors"
	"os"
)

// lockRecording takes no lock on this platform (see the unix version).
func lockRecording(f *os.File) error { return errors.ErrUnsupported }

// recordingHeld cannot tell on this platform.
func recordingHeld(f *os.File) (held, known bool) { return false, false }
