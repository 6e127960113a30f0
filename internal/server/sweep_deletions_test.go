package server

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/eice"
	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// embeddedConfig is a one-machine server's configuration (SQLite, the
// embedded agent serving the local endpoint) under a fresh data dir.
func embeddedConfig(t *testing.T) config.Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen, cfg.Advertise = config.ParseAddrs("127.0.0.1:0"), "localhost:8443"
	on := true
	cfg.Agent.Embedded = &on
	return cfg
}

// crashDeleting leaves endpoint id as a server that crashed in the middle
// of DeleteInstanceConnectEndpoint leaves it: delete-in-progress
// committed (endpoints.StartDeletion), its network interfaces still on it
// (the agents' leaving, EndpointDeleting, never ran).
func crashDeleting(t *testing.T, st store.Store, id string, enis []string, now time.Time) store.Endpoint {
	t.Helper()
	var after store.Endpoint
	err := st.InTx(context.Background(), func(tx store.Repo) error {
		e, err := tx.GetEndpoint(context.Background(), id)
		if err != nil {
			return err
		}
		e.NetworkInterfaceIDs = enis
		if _, _, err := endpoints.StartDeletion(&e, now); err != nil {
			return err
		}
		after = e
		return tx.UpdateEndpoint(context.Background(), e)
	})
	if err != nil || after.State != eice.DeleteInProgress {
		t.Fatalf("leave %s deleting: %s %v", id, after.State, err)
	}
	return after
}

// sameButDeleted checks that got is want completed as a deletion
// completes: delete-complete at deletedAt, no network interface, every
// other field as it was.
func sameButDeleted(t *testing.T, name string, want, got store.Endpoint, deletedAt time.Time) {
	t.Helper()
	if got.State != eice.DeleteComplete || len(got.NetworkInterfaceIDs) != 0 || !got.DeletedAt.Equal(deletedAt) {
		t.Errorf("%s: state %s, interfaces %v, deleted at %v; want delete-complete, none, %v", name, got.State, got.NetworkInterfaceIDs, got.DeletedAt, deletedAt)
	}
	want.State, want.NetworkInterfaceIDs, want.DeletedAt = got.State, got.NetworkInterfaceIDs, got.DeletedAt
	want.Tags, got.Tags = nil, nil
	if !slices.Equal(want.SecurityGroupIDs, got.SecurityGroupIDs) {
		t.Errorf("%s: groups %v, want %v", name, got.SecurityGroupIDs, want.SecurityGroupIDs)
	}
	want.SecurityGroupIDs, got.SecurityGroupIDs = nil, nil
	if want.StateMessage != got.StateMessage || want.DNSName != got.DNSName || want.VpcID != got.VpcID || want.SubnetID != got.SubnetID ||
		!want.CreatedAt.Equal(got.CreatedAt) || want.ARN != got.ARN {
		t.Errorf("%s: other fields changed: %+v, want %+v", name, got, want)
	}
}

// TestSweepFinishesInterruptedDeletions: an endpoint a crash left in
// delete-in-progress is finished by the sweep once this server has seen
// it so for endpoints.StaleDeletion (its agent's link closed, its
// interfaces gone, delete-complete as a normal deletion leaves it); one
// seen deleting for less is left alone (another replica may be deleting
// it).
func TestSweepFinishesInterruptedDeletions(t *testing.T) {
	ctx := t.Context()
	s, err := New(ctx, embeddedConfig(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, local := s.Store, s.Local
	if local.EndpointID == "" || len(s.endpoints.Connected(local.EndpointID)) != 1 {
		t.Fatalf("local endpoint %q, agents %v", local.EndpointID, s.endpoints.Connected(local.EndpointID))
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	stale := crashDeleting(t, st, local.EndpointID, []string{local.AgentID}, now)

	// A second endpoint in the same subnet, for a deletion that starts later.
	fresh := stale
	fresh.EndpointID, fresh.ARN, fresh.State, fresh.NetworkInterfaceIDs = "eice-0123456789abcdef0", stale.ARN+"x", eice.CreateComplete, []string{"eni-0123456789abcdef0"}
	if err := st.CreateEndpoint(ctx, fresh); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		at                  time.Time
		before              func()
		staleDone, freshDel bool
	}{
		{at: now}, // the first sighting of the stale deletion
		{at: now.Add(endpoints.StaleDeletion - time.Second), before: func() {
			fresh = crashDeleting(t, st, fresh.EndpointID, fresh.NetworkInterfaceIDs, now)
		}},
		{at: now.Add(endpoints.StaleDeletion), staleDone: true}, // the fresh one seen only StaleDeletion-1s ago
	}
	for i, step := range steps {
		if step.before != nil {
			step.before()
		}
		s.sweepOnce(ctx, step.at)
		got, err := st.GetEndpoint(ctx, local.EndpointID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case step.staleDone:
			sameButDeleted(t, "interrupted deletion", stale, got, step.at)
			if c := s.endpoints.Connected(local.EndpointID); len(c) != 0 {
				t.Errorf("step %d: agents still connected to the deleted endpoint: %v", i, c)
			}
		case got.State != eice.DeleteInProgress || !slices.Equal(got.NetworkInterfaceIDs, []string{local.AgentID}):
			t.Errorf("step %d: deletion younger than the bound was touched: %s %v", i, got.State, got.NetworkInterfaceIDs)
		}
		f, err := st.GetEndpoint(ctx, fresh.EndpointID)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && (f.State != eice.DeleteInProgress || len(f.NetworkInterfaceIDs) != 1) {
			t.Errorf("step %d: fresh deletion was touched: %s %v", i, f.State, f.NetworkInterfaceIDs)
		}
	}
	// The embedded agent was disconnected, not revoked: a normal deletion
	// does not revoke agents either.
	if a, err := st.GetAgent(ctx, local.AgentID); err != nil || !a.RevokedAt.IsZero() {
		t.Errorf("embedded agent after the deletion: %+v %v", a, err)
	}
	// A normal deletion's completion leaves the same record.
	s.endpoints.EndpointDeleting(fresh.EndpointID)
	f, err := st.GetEndpoint(ctx, fresh.EndpointID)
	if err != nil {
		t.Fatal(err)
	}
	sameButDeleted(t, "normal deletion", fresh, f, f.DeletedAt)
	if f.DeletedAt.IsZero() {
		t.Error("normal deletion left no deletion time")
	}
}

// TestStartFinishesInterruptedDeletions: on a store no other server
// shares (SQLite) a server starting finishes at once the deletions a
// crash left in delete-in-progress.
func TestStartFinishesInterruptedDeletions(t *testing.T) {
	ctx := t.Context()
	cfg := embeddedConfig(t)
	s1, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	local := s1.Local
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	before := crashDeleting(t, st, local.EndpointID, []string{local.AgentID}, time.Now().UTC().Truncate(time.Millisecond))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Millisecond)
	s2, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.Store.GetEndpoint(ctx, local.EndpointID)
	if err != nil {
		t.Fatal(err)
	}
	if got.DeletedAt.Before(start) {
		t.Errorf("deleted at %v, before the start %v", got.DeletedAt, start)
	}
	sameButDeleted(t, "at start", before, got, got.DeletedAt)
	if s2.Local.EndpointID != "" || len(s2.endpoints.Connected(local.EndpointID)) != 0 {
		t.Errorf("the embedded agent serves the deleted endpoint: %q %v", s2.Local.EndpointID, s2.endpoints.Connected(local.EndpointID))
	}
}

// TestReplicasFinishOnlyStaleDeletions: on PostgreSQL, shared by several
// replicas, a starting replica does not finish a deletion at once (a
// live replica may be carrying it out); each replica counts the age of a
// deletion from its own first sighting, and the one that has seen it
// for endpoints.StaleDeletion finishes it.
func TestReplicasFinishOnlyStaleDeletions(t *testing.T) {
	ctx := t.Context()
	cfg := embeddedConfig(t)
	cfg.Database = pgtest.Start(t)
	a, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	local := a.Local
	now := time.Now().UTC().Truncate(time.Millisecond)
	before := crashDeleting(t, a.Store, local.EndpointID, []string{local.AgentID}, now)
	a.sweepOnce(ctx, now) // A's first sighting
	// B starts (sharing A's data directory, as replicas do) and sees the
	// deletion for the first time.
	b, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i, step := range []struct {
		srv  *Server
		at   time.Time
		done bool
	}{
		{srv: b, at: time.Now()},                                     // at B's start, then its sweep at once
		{srv: b, at: now.Add(endpoints.StaleDeletion - time.Second)}, // B has seen it for less than the bound
		{srv: a, at: now.Add(endpoints.StaleDeletion - time.Second)}, // so has A
		{srv: a, at: now.Add(endpoints.StaleDeletion), done: true},   // A has seen it for the bound
	} {
		step.srv.sweepOnce(ctx, step.at)
		got, err := a.Store.GetEndpoint(ctx, local.EndpointID)
		if err != nil {
			t.Fatal(err)
		}
		if step.done {
			sameButDeleted(t, "stale deletion", before, got, step.at.UTC().Truncate(time.Millisecond))
		} else if got.State != eice.DeleteInProgress || len(got.NetworkInterfaceIDs) != 1 {
			t.Errorf("step %d: a deletion younger than the bound was finished: %s %v", i, got.State, got.NetworkInterfaceIDs)
		}
	}
}
