package frontdoor

import (
	"context"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
)

// qjClosingStore is the front door's store, as the server closes it once
// Shutdown returned: it counts the reads that ran after that close. Its
// GetAccessKey (the re-check's first read for a user's key) waits for
// release, after telling entered.
type qjClosingStore struct {
	store.Store
	entered chan struct{}
	release chan struct{}

	mu         sync.Mutex
	closed     bool
	afterClose int
}

func (s *qjClosingStore) GetAccessKey(ctx context.Context, id string) (store.AccessKey, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	s.mu.Lock()
	if s.closed {
		s.afterClose++
	}
	s.mu.Unlock()
	return s.Store.GetAccessKey(ctx, id)
}

func (s *qjClosingStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

func (s *qjClosingStore) readsAfterClose() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.afterClose
}

// TestQJListingRecheckDoesNotOutliveShutdown: the re-check addDialing
// starts for a tunnel listed after a counted change runs on a goroutine
// of its own, and the open may leave without waiting for it (its dial
// failed, the client left, its record failed). Shutdown must wait for
// that goroutine as it waits for the opens: the server closes the store
// once Shutdown returned, and the re-check would read a closed store.
// Before, the goroutine was not counted in f.wg, and Shutdown returned
// while it still read.
func TestQJListingRecheckDoesNotOutliveShutdown(t *testing.T) {
	st := sqlitetest.Open(t)
	cs := &qjClosingStore{Store: st, entered: make(chan struct{}, 1), release: make(chan struct{})}
	f := &FrontDoor{cfg: Config{PingInterval: time.Hour, CloseGrace: 2 * time.Second, Now: time.Now, AccountID: "123456789012",
		Region: "us-east-1", Store: cs},
		log: slog.New(slog.DiscardHandler), audit: audit.NewWriter(st, nil),
		tunnels: map[string]*tunnel{}, byEndpoint: map[string]int{}, done: make(chan struct{})}
	f.pinging = true // no sweeps: only addDialing's re-check reads the store

	id := "tnl-qj00000000000000a"
	req := &request{id: "req-" + id, tunnelID: id, at: time.Now(), sourceIP: "127.0.0.1",
		endpoint: store.Endpoint{EndpointID: "eice-0123456789abcdef0"}, addr: netip.MustParseAddr("10.0.0.5"), port: 22, duration: time.Hour,
		principal: &identity.Principal{Type: identity.TypeIAMUser, AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:user/dora",
			PrincipalID: "AIDAQJ00000000000DORA", UserName: "dora", AccessKeyID: "AKIAQJ0000000000DORA"},
		changes: f.changes() + 1} // a change counted since its checks: re-decided at the listing
	pd := &pendingDial{done: make(chan struct{}), end: func() {}, chosen: make(chan struct{})}
	wait := f.addDialing(req, "agent-1", time.Now(), pd)
	<-cs.entered // the re-check reads the store
	// The open's early exit: its dial failed, and serveTunnel unlists it
	// and returns without waiting for the verdict.
	f.takeDialing(id)

	shutdown := make(chan error, 1)
	go func() { shutdown <- f.Shutdown(context.Background()) }()
	waits := qjShutdownWaits(t, shutdown)
	if !waits {
		cs.close() // Shutdown returned: the server closes its store
	}
	close(cs.release)
	if waits {
		if err := <-shutdown; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		cs.close()
	}
	wait() // the re-check's verdict
	if n := cs.readsAfterClose(); n != 0 || !waits {
		t.Fatalf("Shutdown returned while the re-check at the listing still read the store (waited for it: %v; reads after the store's close: %d)", waits, n)
	}
}

// qjShutdownWaits reports whether Shutdown waits for the front door's
// WaitGroup (its goroutine is parked in WaitGroup.Wait) rather than
// returning (its answer arrives on shutdown, which it then refills). A
// goroutine is only parked in Wait while the count is above zero: the
// answer does not depend on timing.
func qjShutdownWaits(t *testing.T, shutdown chan error) bool {
	t.Helper()
	buf := make([]byte, 1<<20)
	for range 200000 { // bounded: a Shutdown doing neither fails the test
		select {
		case err := <-shutdown:
			shutdown <- err
			return false
		default:
		}
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			head, _, _ := strings.Cut(g, "\n")
			if strings.Contains(g, "sync.(*WaitGroup).Wait") && strings.Contains(g, "frontdoor.(*FrontDoor).Shutdown") &&
				(strings.Contains(head, "[sync.WaitGroup.Wait") || strings.Contains(head, "[semacquire")) {
				return true
			}
		}
		runtime.Gosched()
	}
	t.Fatal("Shutdown neither returned nor waited for the front door's WaitGroup")
	return false
}
