//go:build !unix

package cli

import "time"

// processCPU is nil where the process's CPU time is not read: the
// client keeps GOMAXPROCS's count (procsGovernor).
var processCPU func() time.Duration
