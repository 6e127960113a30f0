//go:build unix

package filelock

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// helperEnv names the lock file a helper process takes, then waits for
// its stdin to close.
const helperEnv = "POSTERN_FILELOCK_HELPER"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		unlock, err := Lock(path)
		if err != nil {
			os.Stdout.WriteString("error: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("locked\n")
		_, _ = os.Stdin.Read(make([]byte, 1)) // until the test closes stdin
		unlock()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// One holder at a time, in this process or another; the error names the
// holder; the lock comes free when the holder unlocks or exits.
func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	var held *HeldError
	if _, err := Lock(path); !errors.As(err, &held) || !errors.Is(err, ErrHeld) || held.PID != os.Getpid() {
		t.Fatalf("a second Lock in this process: %v, want a HeldError naming pid %d", err, os.Getpid())
	}
	unlock()
	again, err := Lock(path)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()

	// Another process holds it, then exits without unlocking.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 7)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "locked\n" {
		t.Fatalf("helper: %q, %v", line, err)
	}
	if _, err := Lock(path); !errors.As(err, &held) || held.PID != cmd.Process.Pid {
		t.Fatalf("while another process holds it: %v, want a HeldError naming pid %d", err, cmd.Process.Pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	stdin.Close()
	free, err := Lock(path)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	free()
}
