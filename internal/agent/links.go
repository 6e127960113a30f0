package agent

import (
	"context"
	"net"
	"sync"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// Several server replicas (on one PostgreSQL database) each route tunnels
// only through agents linked to them, so an agent keeps a link to every
// replica. It learns them from the server: the link's answer names the
// replica it reached and lists the live ones, and the server sends the
// list again whenever it changes.
//
// The agent runs one link loop per listed replica, dialling its advertised
// address, plus the bootstrap loop dialling the address it joined through
// (which may be a load balancer in front of the replicas). The bootstrap
// loop dials while no list is known (a server running alone never sends
// one, so it is then the only loop) or no link at all is up (every listed
// replica may have been replaced). A replica's own loop waits while the
// bootstrap link is up to that replica: the server keeps one link per
// agent and replica, and a second one would replace the first.

// linkSet is the agent's view of the replicas and its links to them.
type linkSet struct {
	mu        sync.Mutex
	replicas  map[string]string // replica id → address; nil until a list arrives
	running   map[string]bool   // replicas with a link loop
	live      int               // links up
	bootstrap string            // replica the bootstrap link is up to
	bootUp    bool              // the bootstrap link is up
	changed   chan struct{}     // closed (and replaced) on every change
	spawn     func(id string)   // starts a replica's link loop
	closed    bool              // the agent is stopping: start no loop
}

func newLinkSet(spawn func(id string)) *linkSet {
	return &linkSet{running: map[string]bool{}, changed: make(chan struct{}), spawn: spawn}
}

// notify wakes the waiting loops; m.mu must be held.
func (m *linkSet) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// setReplicas records the live replicas and starts a loop for each new
// one; loops of replicas no longer listed end before their next dial.
func (m *linkSet) setReplicas(rs []tunnelproto.Replica) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.replicas = make(map[string]string, len(rs))
	for _, r := range rs {
		m.replicas[r.ID] = r.Addr
	}
	for _, r := range rs {
		if !m.running[r.ID] {
			m.running[r.ID] = true
			m.spawn(r.ID)
		}
	}
	m.notify()
}

// turn waits until the loop for replica id ("" for the bootstrap loop)
// may dial and returns the address to dial, or ok false when the loop
// should end (ctx ended, or the replica is no longer listed).
func (m *linkSet) turn(ctx context.Context, id, bootstrapAddr string) (addr string, ok bool) {
	for {
		m.mu.Lock()
		if id == "" {
			if m.replicas == nil || m.live == 0 {
				m.mu.Unlock()
				return bootstrapAddr, true
			}
		} else {
			a, listed := m.replicas[id]
			if !listed {
				delete(m.running, id)
				m.mu.Unlock()
				return "", false
			}
			if !m.bootUp || m.bootstrap != id {
				m.mu.Unlock()
				return a, true
			}
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			if id != "" {
				m.mu.Lock()
				delete(m.running, id)
				m.mu.Unlock()
			}
			return "", false
		case <-ch:
		}
	}
}

// up records a link coming up: from loop id ("" bootstrap) to replica
// reached ("" when the server runs alone).
func (m *linkSet) up(id, reached string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live++
	if id == "" {
		m.bootUp, m.bootstrap = true, reached
	}
	m.notify()
}

// down records a link going down.
func (m *linkSet) down(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live--
	if id == "" {
		m.bootUp, m.bootstrap = false, ""
	}
	m.notify()
}

// exit forgets a replica loop that ended for another reason than turn's.
func (m *linkSet) exit(id string) {
	if id == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.running, id)
}

// close stops starting loops (Run is waiting for them to end).
func (m *linkSet) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
}

// What the links said of the endpoint's PreserveClientIp. Every replica
// tells its own link (in the link's answer, then by a control message when
// a modify changes it), and a link's answer may have been written before a
// modify that another link was already told of: a stale value, read last.
// A single value for the agent let such a word outlive its link: a stale
// "true" on a link that then died left the agent believing its endpoint
// preserves while it did not, so the warning was missed when the endpoint
// was then modified to preserve. The agent keeps what each live link said
// (keyed by the link's control stream, which lives as long as the link)
// and believes its endpoint preserves while any of them says so; a link's
// word is forgotten when its control stream ends. With no live link left
// that said anything the view stays: a link re-established to the same
// endpoint says the same and must not warn again.

// linkSaidPreserve records that the link whose control stream is ctrl
// said whether the endpoint preserves client addresses, and updates the
// agent's view (heardPreserve warns when it turns true).
func (a *Agent) linkSaidPreserve(ctrl net.Conn, on bool) {
	a.preserveMu.Lock()
	defer a.preserveMu.Unlock()
	if a.linkPreserve == nil {
		a.linkPreserve = map[net.Conn]bool{}
	}
	a.linkPreserve[ctrl] = on
	a.heardPreserve(anyTrue(a.linkPreserve))
}

// linkEnded forgets what the link whose control stream is ctrl said; the
// view follows the live links that said something, if any.
func (a *Agent) linkEnded(ctrl net.Conn) {
	a.preserveMu.Lock()
	defer a.preserveMu.Unlock()
	if _, said := a.linkPreserve[ctrl]; !said {
		return
	}
	delete(a.linkPreserve, ctrl)
	if len(a.linkPreserve) > 0 {
		a.heardPreserve(anyTrue(a.linkPreserve))
	}
}

func anyTrue[K comparable](m map[K]bool) bool {
	for _, v := range m {
		if v {
			return true
		}
	}
	return false
}
