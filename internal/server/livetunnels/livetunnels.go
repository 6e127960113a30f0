// Package livetunnels is the directory of live tunnels across the server
// replicas that share one store: what ListTunnels and TerminateTunnel act
// on (it implements eicapi.Tunnels).
//
// Each replica carries the tunnels that reached its front door. A server
// that runs alone (no replica id) lists and ends only those. A replica
// (PostgreSQL) also publishes them in the store's live_tunnels table:
// Sync, which Run calls every SyncInterval, writes new tunnels, removes
// ended ones and refreshes byte counts at most every BytesInterval, so
// that ListTunnels on any replica shows every live replica's tunnels.
// TerminateTunnel for a tunnel another replica carries records the
// request in its row; the carrying replica reads the requests of its
// tunnels at each sync and ends them, so a termination takes effect within
// one sync interval plus a transaction.
//
// Run also records, through the sweep SetUnclosedSweep sets, the close of
// the tunnels the replicas that vanished carried (their journalled open
// tunnels, store.TunnelJournal), each time the live replicas change.
//
// What it does not do: revocation needs no table (every replica re-checks
// its own tunnels when the store's change count moves, and the PostgreSQL
// change feed moves it on every replica's writes), and the rows of a
// replica that vanished are removed by the others' membership announce
// (package replicas), which also says which replicas are live.
//
// It lives apart from package endpoints because it speaks the front
// door's tunnel view (frontdoor.TunnelInfo), and the front door imports
// endpoints.
package livetunnels

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/postern/postern/internal/server/frontdoor"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

const (
	// SyncInterval is how often Run publishes this replica's tunnels.
	SyncInterval = 250 * time.Millisecond
	// BytesInterval is how often at most a tunnel's byte counts are
	// republished.
	BytesInterval = 2 * time.Second
	// republish is how often every tunnel is put again, in case its row
	// was swept while this replica's record looked stale.
	republish = 30 * time.Second
)

// FrontDoor is the replica's own tunnels (package frontdoor's FrontDoor
// implements it).
type FrontDoor interface {
	// Tunnels lists the open tunnels.
	Tunnels() []frontdoor.TunnelInfo
	// Terminate ends the open tunnels that match and returns how many.
	Terminate(match func(frontdoor.TunnelInfo) bool, code int, reason, message string) int
}

// Config configures a Directory.
type Config struct {
	// FrontDoor carries this replica's tunnels. Required.
	FrontDoor FrontDoor
	// ReplicaID is this replica's id; empty when the server runs alone,
	// and then Store and Live are not used.
	ReplicaID string
	// Store holds the published tunnels of every replica.
	Store store.LiveTunnels
	// Live returns the ids of the replicas seen alive (package replicas'
	// Membership.Live); tunnels published by others are ignored.
	Live func() []string
	// Logger; default discards.
	Logger *slog.Logger
}

// Directory lists and ends the live tunnels of every replica. It is safe
// for concurrent use.
type Directory struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex // one sync at a time
	rows      map[string]published
	lastFull  time.Time
	terminals map[string]bool // tunnels ended at another replica's request

	// unclosed records the close of the tunnels of replicas gone (set by
	// SetUnclosedSweep before Run); swept and sweptAt are the live
	// replicas it last ran for with success, and when (Run's goroutine
	// only).
	unclosed func(ctx context.Context, live []string) error
	swept    []string
	sweptAt  time.Time
	// liveAt is when each replica was last among the live ones (Run's
	// goroutine only): one that left is kept for WithdrawGrace.
	liveAt map[string]time.Time
}

// published is what this replica last wrote of one of its tunnels.
type published struct {
	bytesIn, bytesOut int64
	at                time.Time
}

// New returns the directory of a replica (or of a server alone).
func New(cfg Config) (*Directory, error) {
	if cfg.FrontDoor == nil {
		return nil, errors.New("livetunnels: a front door is required")
	}
	if cfg.ReplicaID != "" && (cfg.Store == nil || cfg.Live == nil) {
		return nil, errors.New("livetunnels: a replica needs a store and its live replicas")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Directory{cfg: cfg, log: log, rows: map[string]published{}, terminals: map[string]bool{}}, nil
}

// Tunnels lists this replica's tunnels (live byte counts) and those the
// other live replicas published (byte counts as of their last sync).
func (d *Directory) Tunnels(ctx context.Context) ([]frontdoor.TunnelInfo, error) {
	out := d.cfg.FrontDoor.Tunnels()
	rows, err := d.remote(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range rows {
		out = append(out, info(t))
	}
	return out, nil
}

// Terminate ends this replica's tunnels that match and asks the replicas
// carrying the other matching ones to end them with message; it returns
// how many it ended or asked to end.
func (d *Directory) Terminate(ctx context.Context, match func(frontdoor.TunnelInfo) bool, code int, reason, message string) (int, error) {
	n := d.cfg.FrontDoor.Terminate(match, code, reason, message)
	rows, err := d.remote(ctx)
	if err != nil {
		return n, err
	}
	for _, t := range rows {
		if !match(info(t)) {
			continue
		}
		switch err := d.cfg.Store.RequestTunnelTermination(ctx, t.TunnelID, message); {
		case err == nil:
			n++
		case errors.Is(err, store.ErrNotFound): // it ended meanwhile
		default:
			return n, fmt.Errorf("ask replica %s to end tunnel %s: %w", t.ReplicaID, t.TunnelID, err)
		}
	}
	return n, nil
}

// remote returns the tunnels the other live replicas published; none when
// the server runs alone.
func (d *Directory) remote(ctx context.Context) ([]store.LiveTunnel, error) {
	if d.cfg.ReplicaID == "" {
		return nil, nil
	}
	rows, err := d.cfg.Store.ListLiveTunnels(ctx)
	if err != nil {
		return nil, fmt.Errorf("other replicas' tunnels: %w", err)
	}
	live := d.cfg.Live()
	out := rows[:0]
	for _, t := range rows {
		if t.ReplicaID != d.cfg.ReplicaID && slices.Contains(live, t.ReplicaID) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Sync publishes this replica's tunnels and ends those another replica
// asked to end. It does nothing when the server runs alone.
func (d *Directory) Sync(ctx context.Context) error {
	if d.cfg.ReplicaID == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	full := now.Sub(d.lastFull) >= republish
	local := d.cfg.FrontDoor.Tunnels()
	var put []store.LiveTunnel
	here := make(map[string]bool, len(local))
	for _, t := range local {
		here[t.TunnelID] = true
		last, ok := d.rows[t.TunnelID]
		if ok && !full && (last.bytesIn == t.BytesIn && last.bytesOut == t.BytesOut || now.Sub(last.at) < BytesInterval) {
			continue
		}
		put = append(put, row(t, now))
	}
	var gone []string
	for id := range d.rows {
		if !here[id] {
			gone = append(gone, id)
		}
	}
	if len(put) == 0 && len(gone) == 0 && len(local) == 0 {
		return nil // nothing carried, so nothing to be asked to end
	}
	terminate, err := d.cfg.Store.SyncLiveTunnels(ctx, d.cfg.ReplicaID, put, gone)
	if err != nil {
		return fmt.Errorf("publish live tunnels: %w", err)
	}
	if full {
		d.lastFull = now
	}
	for _, t := range put {
		d.rows[t.TunnelID] = published{bytesIn: t.BytesIn, bytesOut: t.BytesOut, at: now}
	}
	for _, id := range gone {
		delete(d.rows, id)
	}
	for _, t := range terminate {
		if d.terminals[t.TunnelID] {
			continue // already ended; its row goes at the next sync
		}
		d.terminals[t.TunnelID] = true
		id := t.TunnelID
		if n := d.cfg.FrontDoor.Terminate(func(i frontdoor.TunnelInfo) bool { return i.TunnelID == id },
			wsframe.ClosePolicyViolation, tunnelproto.CodeRevoked, t.TerminateMessage); n > 0 {
			d.log.Info("tunnel terminated at another replica's request", "tunnel", id, "reason", t.TerminateMessage)
		}
	}
	for id := range d.terminals {
		if !here[id] {
			delete(d.terminals, id)
		}
	}
	return nil
}

// SetUnclosedSweep sets the function that records the close of the
// tunnels whose replica is gone (package audit's CloseUnclosedTunnels,
// keeping the replicas it is given: the live ones and those live within
// WithdrawGrace). Run calls it whenever those differ from the ones of its
// last successful run, and at least every UnclosedInterval. Call it
// before Run.
func (d *Directory) SetUnclosedSweep(f func(ctx context.Context, live []string) error) {
	d.unclosed = f
}

// UnclosedInterval is how often at most Run sweeps the tunnels of gone
// replicas when the live replicas have not changed.
const UnclosedInterval = republish

// WithdrawGrace is how long the sweep still keeps a replica that left the
// live ones: a replica that shuts down withdraws first (its record is
// deleted) and then ends its tunnels and records their close, within its
// shutdown's bound (15 s for the server command); sweeping them meanwhile
// would record each of them closed twice.
const WithdrawGrace = 20 * time.Second

// sweepUnclosed runs the unclosed sweep when it is due (see
// SetUnclosedSweep) and returns its error.
func (d *Directory) sweepUnclosed(now time.Time) error {
	if d.unclosed == nil {
		return nil
	}
	live := d.cfg.Live()
	if live == nil { // no announce yet: who is live is unknown
		return nil
	}
	if d.liveAt == nil {
		d.liveAt = map[string]time.Time{}
	}
	for _, id := range live {
		d.liveAt[id] = now
	}
	keep := slices.Clone(live)
	for id, at := range d.liveAt {
		if now.Sub(at) >= WithdrawGrace {
			delete(d.liveAt, id)
		} else if !slices.Contains(live, id) {
			keep = append(keep, id)
		}
	}
	if d.swept != nil && sameSet(keep, d.swept) && now.Sub(d.sweptAt) < UnclosedInterval {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.unclosed(ctx, keep); err != nil {
		return err
	}
	d.swept, d.sweptAt = keep, now
	return nil
}

// sameSet reports whether a and b hold the same ids.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, id := range a {
		if !slices.Contains(b, id) {
			return false
		}
	}
	return true
}

// Run calls Sync every SyncInterval until stop is closed, and the
// unclosed sweep when it is due; it returns at once when the server runs
// alone.
func (d *Directory) Run(stop <-chan struct{}) {
	if d.cfg.ReplicaID == "" {
		return
	}
	t := time.NewTicker(SyncInterval)
	defer t.Stop()
	failing, sweepFailing := false, false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := d.Sync(ctx)
		cancel()
		switch {
		case err != nil && !failing:
			d.log.Warn("could not publish this replica's tunnels; other replicas do not see them", "error", err)
		case err == nil && failing:
			d.log.Info("publishing this replica's tunnels again")
		}
		failing = err != nil
		err = d.sweepUnclosed(time.Now())
		if err != nil && !sweepFailing {
			d.log.Warn("could not record the close of the tunnels of gone replicas; trying again", "error", err)
		}
		sweepFailing = err != nil
	}
}

// row and info are the one conversion between the front door's view of a
// tunnel and its published row: a field added to one side is added to
// both here (TestConversionKeepsEveryField checks it).
func row(t frontdoor.TunnelInfo, updated time.Time) store.LiveTunnel {
	return store.LiveTunnel{TunnelID: t.TunnelID, EndpointID: t.EndpointID, AgentID: t.AgentID, Principal: t.Principal,
		SourceIP: t.SourceIP, Address: t.Address, Port: t.Port, Started: t.Started, Deadline: t.Deadline,
		BytesIn: t.BytesIn, BytesOut: t.BytesOut, Updated: updated}
}

func info(t store.LiveTunnel) frontdoor.TunnelInfo {
	return frontdoor.TunnelInfo{TunnelID: t.TunnelID, EndpointID: t.EndpointID, AgentID: t.AgentID, Principal: t.Principal,
		SourceIP: t.SourceIP, Address: t.Address, Port: t.Port, Started: t.Started, Deadline: t.Deadline,
		BytesIn: t.BytesIn, BytesOut: t.BytesOut}
}
