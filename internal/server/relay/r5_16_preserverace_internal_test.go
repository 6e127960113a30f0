package relay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// r516Store is a store whose endpoint's PreserveClientIp the test sets,
// and whose holdAt-th GetEndpoint is held right after it read the value
// (it sends on read, then waits on release), to line up a send's read
// with a change the way the scheduler may.
type r516Store struct {
	store.Store // nil: only the methods below are called
	mu          sync.Mutex
	preserve    bool
	calls       int
	holdAt      int
	read        chan struct{}
	release     chan struct{}
}

func (s *r516Store) set(on bool) { s.mu.Lock(); s.preserve = on; s.mu.Unlock() }

func (s *r516Store) GetEndpoint(context.Context, string) (store.Endpoint, error) {
	s.mu.Lock()
	e := store.Endpoint{VpcID: "vpc-1", PreserveClientIP: s.preserve}
	s.calls++
	hold := s.calls == s.holdAt
	s.mu.Unlock()
	if hold {
		s.read <- struct{}{}
		<-s.release
	}
	return e, nil
}

func (s *r516Store) GetVpc(context.Context, string) (store.Vpc, error) {
	return store.Vpc{}, errors.New("not in this test") // syncVPCs goes on; no VPC message
}

// TestR516PreserveChangeDuringASendIsNotLost: the endpoint's
// PreserveClientIp turns off, then on again while the send of "false" is
// in flight (tellLink has read false; the link's record still says
// true, so the store change's sync sees nothing to do). The agent must end
// up told "true". Before the fix: the link said "false" last and nothing
// more was sent until the next change or the 30 s full recheck (the agent
// believed false while its endpoint preserved, and missed the warning).
func TestR516PreserveChangeDuringASendIsNotLost(t *testing.T) {
	st := &r516Store{preserve: true, holdAt: 2, read: make(chan struct{}), release: make(chan struct{})}
	r := &Relay{cfg: Config{Store: st}, log: slog.New(slog.DiscardHandler), byAgent: map[string]*link{}}
	srv, agentSide := net.Pipe()
	defer srv.Close()
	defer agentSide.Close()
	l := &link{agentID: "agent-1", endpointID: "eice-1", ctrl: srv, preserveTold: true}
	r.byAgent[l.agentID] = l

	st.set(false) // modify → false
	r.syncVPCs()  // read 1; told true ≠ false: starts tellLink, whose read (2) is…
	<-st.read     // …held here, having read false
	st.set(true)  // modify → true while "false" is in flight
	r.syncVPCs()  // the link still records true: nothing to send
	close(st.release)

	lines := bufio.NewScanner(agentSide)
	var told []bool
	for len(told) < 2 {
		_ = agentSide.SetReadDeadline(time.Now().Add(5 * time.Second))
		if !lines.Scan() {
			break
		}
		var m tunnelproto.Control
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil || m.Type != tunnelproto.ControlPreserveClientIP || m.PreserveClientIP == nil {
			t.Fatalf("control line %q", lines.Bytes())
		}
		told = append(told, *m.PreserveClientIP)
	}
	if len(told) == 0 || told[len(told)-1] != true {
		t.Fatalf("agent told %v after PreserveClientIp false then true; want its last message true", told)
	}
}
