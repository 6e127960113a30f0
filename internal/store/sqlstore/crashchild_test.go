package sqlstore

import (
	"bytes"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// killedChild runs the test binary's helper test in a child process, with
// the environment variable env set to path (the database it writes), and
// returns its standard output and standard error once it has killed
// itself (SIGKILL, while its writes ran); any other end fails t.
func killedChild(t *testing.T, helper, env, path string) (out, stderr []byte) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$")
	cmd.Env = append(os.Environ(), env+"="+path)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the helper did not die by SIGKILL: %v\n%s\n%s", err, out, errb.Bytes())
	}
	return out, errb.Bytes()
}
