package pgtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServerDiesWithTestBinary: a test binary that dies without running
// Main's clean-up (here, a panic) leaves no postgres behind.
func TestServerDiesWithTestBinary(t *testing.T) {
	if os.Getenv("PGTEST_CRASH_CHILD") == "1" {
		Start(t)
		mu.Lock()
		fmt.Printf("postgres pid %d dir %s\n", srv.cmd.Process.Pid, srv.dir)
		mu.Unlock()
		panic("pgtest: crashing on purpose")
	}
	// Become the subreaper of the child's orphans, so that the postgres it
	// leaves is reparented to this process, which reaps it (in a container
	// whose init does not reap, it would stay a zombie).
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Logf("PR_SET_CHILD_SUBREAPER: %v", errno)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTestBinary$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PGTEST_CRASH_CHILD=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil {
		t.Fatalf("the crashing test binary succeeded:\n%s", out.String())
	}
	pid, dir := 0, ""
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "postgres pid %d dir %s", &pid, &dir); err == nil {
			break
		}
	}
	if pid == 0 {
		if strings.Contains(out.String(), "SKIP") {
			t.Skip("the child skipped: PostgreSQL is not installed")
		}
		t.Fatalf("the child did not start postgres:\n%s", out.String())
	}
	defer os.RemoveAll(dir) // left behind by the crash, by design
	deadline := time.Now().Add(30 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("postgres (pid %d) still runs 30 s after its test binary died", pid)
		}
		time.Sleep(20 * time.Millisecond) // bounded polling of the external process
	}
}

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER of prctl(2).
const prSetChildSubreaper = 36

// gone reports whether process pid has exited, reaping it if it is this
// process's (a zombie that nobody has reaped yet counts as exited).
func gone(pid int) bool {
	var ws syscall.WaitStatus
	if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid && err == nil {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}
