//go:build linux

package client

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/internal/util/sockwait"
)

// TestIdlerPollRefusedFallsBack: when the Poller cannot watch a socket
// (epoll_ctl fails: the kernel's watch limit, fs.epoll.max_user_watches,
// reached; here a regular file, which epoll refuses with EPERM), the copy
// goes on waiting on goroutines of its own, as where there is no Poller:
// the work never sees the Poller's error (copyIn would end the upload
// with a close frame while the local client still sends; copyOut would
// end the tunnel as lost).
func TestIdlerPollRefusedFallsBack(t *testing.T) {
	p, err := sockwait.New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "not-a-socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	w, err := p.Add(rc)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const works = 3
	waits, n := 0, 0
	var errs []error
	done := make(chan struct{})
	d := &idler{wait: func() error { waits++; return nil }, poll: w, work: func(waitErr error) bool {
		if waitErr != nil {
			errs = append(errs, waitErr)
		}
		n++
		return n == works
	}, end: func() { close(done) }}
	d.start(waitFirst)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the copy did not end")
	}
	if len(errs) > 0 || waits != works {
		t.Fatalf("works saw errors %v after %d goroutine waits; want %d works after %d goroutine waits and no error",
			errs, waits, works, works)
	}
}
