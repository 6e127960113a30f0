package sqlstore

import (
	"bytes"
	"github.com/postern/postern/internal/store"
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

// reopenChecked opens the database at path a killed child left (closed at
// cleanup), fails t unless SQLite's integrity_check passes, and counts
// the stored records by event id.
func reopenChecked(t *testing.T, path string) (*Store, map[string]int) {
	t.Helper()
	s, err := OpenSQLite(t.Context(), path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var check string
	if err := s.reader.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	evs, err := s.ListEvents(t.Context(), store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	stored := make(map[string]int, len(evs))
	for _, e := range evs {
		stored[e.EventID]++
	}
	return s, stored
}
