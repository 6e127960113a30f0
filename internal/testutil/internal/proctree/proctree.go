// Package proctree kills a process together with every descendant it has
// started, for the test helpers in internal/testutil. It reads the parent
// links from /proc, so it only works on Linux.
package proctree

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// maxRounds bounds the search for descendants: each round stops the
// processes found so far, so a tree deeper than this is cut off rather than
// chased forever.
const maxRounds = 32

// Kill stops root and all its descendants with SIGSTOP (so none of them can
// fork while the tree is being walked) and then kills them all with SIGKILL.
// It does not reap anything: whoever started root still has to Wait for it.
func Kill(root int) {
	if root <= 0 {
		return
	}
	tree := map[int]bool{root: true}
	_ = syscall.Kill(root, syscall.SIGSTOP)
	for range maxRounds {
		children := childrenByParent()
		added := false
		for pid := range tree {
			for _, c := range children[pid] {
				if !tree[c] {
					tree[c] = true
					_ = syscall.Kill(c, syscall.SIGSTOP)
					added = true
				}
			}
		}
		if !added {
			break
		}
	}
	for pid := range tree {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// childrenByParent maps each parent pid to its children, from /proc/*/stat.
func childrenByParent() map[int][]int {
	m := map[int][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return m
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses,
		// so the fields are counted from the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		m[ppid] = append(m[ppid], pid)
	}
	return m
}
