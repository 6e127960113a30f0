// Package procstat reads a process's resource use from /proc for
// benchmarks that measure the binaries as a user runs them: CPU time
// (utime+stime from /proc/PID/stat) and proportional set size (PSS, from
// /proc/PID/smaps_rollup); and, for tests of durability, how many pages
// of a file are not on the disk yet (UnsyncedPages). Linux only.
package procstat

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPUTime is a process's user and system CPU time so far, from
// /proc/PID/stat (clock ticks of 10 ms: a figure for many operations, not
// one). It is 0 when the process cannot be read (it has exited).
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// PSSKiB is a process's proportional set size in KiB, from
// /proc/PID/smaps_rollup.
func PSSKiB(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no Pss line in /proc/%d/smaps_rollup", pid)
}
