// Package replicas keeps the membership of server replicas that share one
// store (PostgreSQL): each replica records itself (id, replica address)
// every heartbeat, reads the replicas seen within three heartbeats and
// hands that list on (the relay tells agents, which keep a link to every
// replica, so that whichever replica a client reaches can route its
// tunnel). A replica that starts or leaves tells the others at once
// through the store (store.Replicated), so that they need not wait for
// their next heartbeat. What a replica that vanished without withdrawing
// left behind (its published live tunnels) is removed by the others.
//
// On a store that only one process uses (SQLite) the server runs alone
// and starts no Membership.
//
// Why agents link to every replica rather than replicas forwarding a
// tunnel to the replica that holds the agent's link (Teleport's proxy
// peering): the data path stays one hop (client → replica → agent), as
// fast as a single server; replicas need no trust or connections between
// each other, only the database; each link is authenticated as any agent
// link (the agent's key as TLS client certificate, the pinned CA), so a
// replica needs no new credential to reach an agent; and a replica that
// dies takes only its own tunnels with it. The cost is one idle link per
// agent and replica (a few KiB on each side) and one heartbeat write per
// replica every few seconds.
package replicas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// DefaultHeartbeat is how often a replica announces itself unless
// configured otherwise.
const DefaultHeartbeat = 5 * time.Second

// Store is what membership reads and writes: the replica registry, and
// the live tunnels that vanished replicas leave behind. A store that also
// implements store.Replicated tells the replicas of changes at once.
type Store interface {
	store.Replicas
	// DeleteLiveTunnels removes the tunnels of replicas not in keep.
	DeleteLiveTunnels(ctx context.Context, keep []string) (int, error)
}

// Config configures a Membership.
type Config struct {
	Store Store
	// ID is this replica's id; NewID() when empty.
	ID string
	// Address is where agents reach this replica itself (host:port).
	Address string
	// StartedAt is when this replica started; now when zero.
	StartedAt time.Time
	// Heartbeat is how often the replica announces itself;
	// DefaultHeartbeat when zero. Replicas not seen within three
	// heartbeats are taken for gone.
	Heartbeat time.Duration
	// OnChange, when set, receives the live replicas (this one always
	// included) after every announce.
	OnChange func([]tunnelproto.Replica)
	// Logger may be nil.
	Logger *slog.Logger
}

// Membership is one replica's place among the replicas sharing a store.
type Membership struct {
	cfg    Config
	notify store.Replicated // nil when the store tells of no changes
	log    *slog.Logger

	mu        sync.Mutex // one announce or withdraw at a time
	withdrawn bool       // Withdraw ran: announce no more

	liveMu sync.Mutex
	live   []string // ids of the replicas seen alive at the last announce

	stopOnce sync.Once
	stop     chan struct{}
}

// NewID returns a new, random replica id ("r-" and 16 hex digits).
func NewID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "r-" + hex.EncodeToString(b)
}

// New returns the membership of one replica; Start announces it.
func New(cfg Config) *Membership {
	if cfg.ID == "" {
		cfg.ID = NewID()
	}
	if cfg.StartedAt.IsZero() {
		cfg.StartedAt = time.Now().UTC()
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Membership{cfg: cfg, log: log, stop: make(chan struct{})}
	m.notify, _ = cfg.Store.(store.Replicated)
	return m
}

// ID is this replica's id.
func (m *Membership) ID() string { return m.cfg.ID }

// Address is where agents reach this replica.
func (m *Membership) Address() string { return m.cfg.Address }

// Start announces this replica now, tells the others, and then announces
// it every heartbeat, and whenever another replica joins or leaves, until
// Stop.
func (m *Membership) Start(ctx context.Context) {
	m.Announce(ctx)
	if err := m.notifyOthers(ctx); err != nil {
		m.log.Warn("could not tell the other replicas that this one started; they learn it at their next heartbeat", "error", err)
	}
	go m.loop()
	m.log.Info("replica announced", "replica", m.cfg.ID, "replica_address", m.cfg.Address)
}

// Stop ends the heartbeat that Start began; an announce under way
// finishes on its own. It does not withdraw the replica (Withdraw does).
// Stop may be called more than once, and without Start.
func (m *Membership) Stop() {
	m.stopOnce.Do(func() { close(m.stop) })
}

// Announce records this replica, reads the live replicas and hands them
// to OnChange, and removes the live tunnels of replicas that vanished.
// It does nothing once Withdraw ran. Errors are logged: the next
// heartbeat tries again.
func (m *Membership) Announce(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.withdrawn {
		return // Withdraw removed the record; do not bring it back
	}
	st, id, addr := m.cfg.Store, m.cfg.ID, m.cfg.Address
	now := time.Now().UTC()
	if err := st.PutReplica(ctx, store.Replica{ReplicaID: id, Advertise: addr, StartedAt: m.cfg.StartedAt, LastSeen: now}); err != nil {
		m.log.Warn("could not announce this replica", "replica", id, "error", err)
	}
	rs, err := st.ListReplicas(ctx, now.Add(-3*m.cfg.Heartbeat))
	if err != nil {
		m.log.Warn("could not list the replicas", "error", err)
		return
	}
	list := make([]tunnelproto.Replica, 0, len(rs))
	self := false
	for _, r := range rs {
		rp := tunnelproto.Replica{ID: r.ReplicaID, Addr: r.Advertise}
		if !tunnelproto.ValidReplica(rp) {
			m.log.Warn("ignoring a replica with an invalid id or address", "replica", r.ReplicaID, "advertise", r.Advertise)
			continue
		}
		self = self || r.ReplicaID == id
		list = append(list, rp)
	}
	if !self { // the write failed: agents linked here still count this one
		list = append(list, tunnelproto.Replica{ID: id, Addr: addr})
	}
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(list)
	}
	ids := make([]string, len(list))
	for i, r := range list {
		ids[i] = r.ID
	}
	m.liveMu.Lock()
	m.live = ids
	m.liveMu.Unlock()
	// The tunnels of replicas that vanished without withdrawing (killed,
	// cut off) ended with them. The store keeps the rows of those still
	// in the journal of open tunnels: their last byte counts go into the
	// CloseTunnel record the unclosed sweep writes (which removes them);
	// livetunnels lists and ends only the live replicas' tunnels.
	if n, err := st.DeleteLiveTunnels(ctx, ids); err != nil {
		m.log.Warn("could not remove the tunnels of vanished replicas", "error", err)
	} else if n > 0 {
		m.log.Info("removed the tunnels of vanished replicas", "tunnels", n)
	}
}

// Live returns the ids of the replicas seen alive at the last announce
// (this one included); nil before the first.
func (m *Membership) Live() []string {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	return m.live
}

// Withdraw removes this replica's record (at shutdown), so that agents
// stop linking to it, and tells the others. No announce runs after it,
// whether it succeeded or not.
func (m *Membership) Withdraw(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.withdrawn = true
	if err := m.cfg.Store.DeleteReplica(ctx, m.cfg.ID); err != nil {
		return err
	}
	return m.notifyOthers(ctx)
}

// notifyOthers tells the other replicas to read the replica list now
// (they would at their next heartbeat otherwise).
func (m *Membership) notifyOthers(ctx context.Context) error {
	if m.notify == nil {
		return nil
	}
	return m.notify.NotifyReplicas(ctx)
}

// loop runs Announce every heartbeat, and when another replica says it
// joined or left, until Stop.
func (m *Membership) loop() {
	t := time.NewTicker(m.cfg.Heartbeat)
	defer t.Stop()
	var changed <-chan struct{}
	if m.notify != nil {
		changed = m.notify.ReplicasChanged()
	}
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		case <-changed:
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.Heartbeat)
		m.Announce(ctx)
		cancel()
	}
}
