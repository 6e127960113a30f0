//go:build unix && !linux

package pgtest

import "syscall"

// setParentDeathSignal: only Linux has PR_SET_PDEATHSIG; elsewhere a test
// binary that dies without running Main's clean-up leaves postgres running.
func setParentDeathSignal(*syscall.SysProcAttr, syscall.Signal) {}
