package server

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/store/storetest"
)

// lockedBuffer is a log destination safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStartClosesUnclosedTunnelsPastAFailure: a server alone on its store
// whose last run left tunnels open starts, and serves, even when the
// close of one of them cannot be recorded (here: a record already holds
// its recovered close's id): the others are closed, the failure is logged,
// and the tunnel stays in the journal for the next start.
func TestStartClosesUnclosedTunnelsPastAFailure(t *testing.T) {
	ctx := context.Background()
	cfg := embeddedConfig(t)
	s, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The last run's journal, as a crash leaves it.
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(cfg.DataDir, DatabaseFile), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st.SetTunnelCarrier("the-last-run")
	opened := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	var evs []store.Event
	for i, id := range []string{"tun-a", "tun-b", "tun-c"} {
		m := audit.Meta{AccountID: "123456789012", Region: cfg.Region, RequestID: "req-" + id, Time: opened.Add(time.Duration(i) * time.Second)}
		e, err := audit.Event(audit.OpenTunnel(m, audit.OpenTunnelParams{InstanceConnectEndpointID: "eice-x", RemotePort: "22"},
			"", audit.OpenTunnelData{TunnelID: id}, "", ""), id, "eice-x")
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	evs = append(evs, store.Event{EventID: audit.UnclosedEventID("tun-b"), EventTime: opened, EventSource: audit.SourceInstanceConn,
		EventName: "Planted", Body: "{}"})
	if err := st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	var logs lockedBuffer
	s, err = New(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("the start did not proceed: %v", err)
	}
	defer s.Close()
	j := s.Store.(store.TunnelJournal)
	us, err := storetest.UnclosedTunnels(ctx, j, nil, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, u := range us {
		left = append(left, u.TunnelID)
	}
	if !slices.Equal(left, []string{"tun-b"}) {
		t.Fatalf("left in the journal %q, want tun-b alone", left)
	}
	for _, id := range []string{"tun-a", "tun-c"} {
		got, err := s.Store.ListEvents(ctx, store.EventQuery{EventName: audit.EventCloseTunnel, TunnelID: id, Limit: -1})
		if err != nil || len(got) != 1 || got[0].EventID != audit.UnclosedEventID(id) {
			t.Fatalf("CloseTunnel records of %s: %+v, %v; want the recovered one", id, got, err)
		}
	}
	if l := logs.String(); !strings.Contains(l, "could not record the close of every tunnel") || !strings.Contains(l, "tun-b") ||
		!strings.Contains(l, "tunnels=2") {
		t.Fatalf("the log does not tell of the 2 closed and the failure of tun-b:\n%s", l)
	}
	// It serves: the store takes records.
	if err := s.audit.Write(ctx, audit.APICall(audit.Meta{Time: time.Now()}, "ec2.amazonaws.com", "DescribeThings", true, nil, nil, "", "", "", ""),
		"", ""); err != nil {
		t.Fatal(err)
	}
}
