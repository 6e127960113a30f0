package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// trailTunnel is what the trail says of one tunnel.
type trailTunnel struct {
	requestID string
	opened    time.Time
	closes    []closeSeen
}

type closeSeen struct {
	at      time.Time
	reason  string
	code    int
	eventID string
}

// tunnelTrail reads the tunnel records of st: every tunnel recorded open
// (OpenTunnel without error) by its id, with its CloseTunnel records.
func tunnelTrail(ctx context.Context, st store.Events) (map[string]*trailTunnel, error) {
	evs, err := st.ListEvents(ctx, store.EventQuery{EventSource: "ec2-instance-connect.amazonaws.com", Limit: -1})
	if err != nil {
		return nil, err
	}
	out := map[string]*trailTunnel{}
	get := func(id string) *trailTunnel {
		if out[id] == nil {
			out[id] = &trailTunnel{}
		}
		return out[id]
	}
	for _, e := range evs {
		if e.TunnelID == "" {
			continue
		}
		switch e.EventName {
		case "OpenTunnel":
			if e.ErrorCode == "" {
				tt := get(e.TunnelID)
				tt.requestID, tt.opened = e.RequestID, e.EventTime
			}
		case "CloseTunnel":
			var rec struct {
				ServiceEventDetails struct {
					Reason    string `json:"reason"`
					CloseCode int    `json:"closeCode"`
				} `json:"serviceEventDetails"`
			}
			if err := json.Unmarshal([]byte(e.Body), &rec); err != nil {
				return nil, fmt.Errorf("CloseTunnel %s: %w", e.EventID, err)
			}
			tt := get(e.TunnelID)
			tt.closes = append(tt.closes, closeSeen{at: e.EventTime, reason: rec.ServiceEventDetails.Reason,
				code: rec.ServiceEventDetails.CloseCode, eventID: e.EventID})
		}
	}
	return out, nil
}

// wholeTrail reports what is wrong with a trail ("" when nothing): every
// tunnel recorded open has exactly one close, and every tunnel held open
// through the crash (by request id) was closed for reason, with code
// 1006, at or after its open and not after now.
// A tunnel whose request is in live is still open: it must have no close.
func wholeTrail(trail map[string]*trailTunnel, held, live map[string]bool, reason string, now time.Time) string {
	var bad []string
	heldSeen := 0
	for id, tt := range trail {
		if live[tt.requestID] {
			if len(tt.closes) != 0 {
				bad = append(bad, fmt.Sprintf("live tunnel %s (request %s) recorded closed: %+v", id, tt.requestID, tt.closes))
			}
			continue
		}
		if tt.requestID == "" {
			bad = append(bad, fmt.Sprintf("tunnel %s closed but never recorded open", id))
			continue
		}
		if len(tt.closes) != 1 {
			bad = append(bad, fmt.Sprintf("tunnel %s (request %s) has %d CloseTunnel records", id, tt.requestID, len(tt.closes)))
			continue
		}
		if !held[tt.requestID] {
			continue
		}
		heldSeen++
		c := tt.closes[0]
		if c.reason != reason || c.code != 1006 || c.at.Before(tt.opened) || c.at.After(now) {
			bad = append(bad, fmt.Sprintf("held tunnel %s closed %+v (opened %v)", id, c, tt.opened))
		}
	}
	if heldSeen != len(held) {
		bad = append(bad, fmt.Sprintf("%d of the %d held tunnels have their close", heldSeen, len(held)))
	}
	if len(bad) > 5 {
		bad = append(bad[:5], fmt.Sprintf("… and %d more", len(bad)-5))
	}
	return strings.Join(bad, "; ")
}

// TestCrashRecordsTheCloseOfOpenTunnels kills the server with SIGKILL
// while it carries tunnels (some held open, others opening and closing in
// a loop), starts it again, and checks that the trail is whole: every
// tunnel recorded open has exactly one CloseTunnel record, those cut by
// the crash with reason ServerRestart (SQLite: before the restarted
// server serves; and a further restart records nothing more) or
// ReplicaGone (PostgreSQL: once the killed replica is taken for gone,
// three heartbeats after its last), while a tunnel the new replica
// carries stays open in the trail.
func TestCrashRecordsTheCloseOfOpenTunnels(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name   string
		dsn    func(t *testing.T) string // "" for SQLite
		reason string
	}{
		{"sqlite", func(*testing.T) string { return "" }, "ServerRestart"},
		{"postgres", func(t *testing.T) string { return pgtest.Start(t) }, "ReplicaGone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := tc.dsn(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			conf := "version: 1\ntunnel:\n  ports: [\"*\"]\n"
			if dsn != "" {
				conf += fmt.Sprintf("database: '%s'\n", strings.ReplaceAll(dsn, "'", "''"))
			}
			writeServerConfig(t, dataDir, conf)
			srv := startServer(t, dataDir)
			cfg := srv.adminConfig(t)
			dialer, target := tunnelDialer(t, cfg, srv, localInstance(t, srv), echoServer(t))

			// Three tunnels held open through the crash.
			held := map[string]bool{}
			for range 3 {
				tun, err := dialer.Dial(ctx, target)
				if err != nil {
					t.Fatal(err)
				}
				defer tun.Close()
				if !echoed(tun) {
					t.Fatalf("held tunnel %s did not echo", tun.RequestID)
				}
				held[tun.RequestID] = true
			}
			// Others opening and closing while the server is killed.
			var mu sync.Mutex
			cycled := 0
			loadCtx, stop := context.WithCancel(ctx)
			defer stop()
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 2000 && loadCtx.Err() == nil; i++ { // bounded
						tun, err := dialer.Dial(loadCtx, target)
						if err != nil {
							continue
						}
						if echoed(tun) {
							mu.Lock()
							cycled++
							mu.Unlock()
						}
						tun.Close()
					}
				}()
			}
			killUnderLoad(t, srv, atLeast("tunnels cycled", 20, func() int { mu.Lock(); defer mu.Unlock(); return cycled }), stop, &wg)

			// The trail as the killed server left it: the held tunnels
			// are open in it.
			readTrail := func() map[string]*trailTunnel {
				t.Helper()
				var st interface {
					store.Events
					Close() error
				}
				var err error
				if dsn == "" {
					st, err = sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "postern.db"), quiet)
				} else {
					st, err = sqlstore.OpenPostgres(ctx, dsn, quiet)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				trail, err := tunnelTrail(ctx, st)
				if err != nil {
					t.Fatal(err)
				}
				return trail
			}
			before := readTrail()
			unclosed := 0
			for _, tt := range before {
				if held[tt.requestID] && len(tt.closes) > 0 {
					t.Fatalf("held tunnel (request %s) closed before the restart: %+v", tt.requestID, tt.closes)
				}
				if tt.requestID != "" && len(tt.closes) == 0 {
					unclosed++
				}
			}
			t.Logf("after the kill: %d tunnels on record, %d without a close (%d held); %d cycled under load", len(before), unclosed, len(held), cycled)

			again := startServer(t, dataDir)
			live := map[string]bool{}
			if dsn == "" {
				// Recorded before the restarted server serves: stop it
				// (the database is then free to open), start and stop
				// it once more (nothing more is recorded).
				if err := again.stop(); err != nil {
					t.Fatalf("stop: %v\n%s", err, again.output())
				}
				if problem := wholeTrail(readTrail(), held, live, tc.reason, time.Now()); problem != "" {
					t.Fatalf("after the restart: %s\n%s", problem, again.output())
				}
				third := startServer(t, dataDir)
				if err := third.stop(); err != nil {
					t.Fatalf("stop: %v\n%s", err, third.output())
				}
			} else {
				// A tunnel the new replica carries, open before the
				// killed one is taken for gone, is left alone.
				d, tg := tunnelDialer(t, again.adminConfig(t), again, localInstance(t, again), echoServer(t))
				tun, err := d.Dial(ctx, tg)
				if err != nil {
					t.Fatal(err)
				}
				defer tun.Close()
				if !echoed(tun) {
					t.Fatalf("tunnel %s through the new replica did not echo", tun.RequestID)
				}
				live[tun.RequestID] = true
				waitUntil(t, 60*time.Second, "the killed replica's tunnels to be closed", again.output, func() (bool, string) {
					problem := wholeTrail(readTrail(), held, live, tc.reason, time.Now())
					return problem == "", problem
				})
			}
			if problem := wholeTrail(readTrail(), held, live, tc.reason, time.Now()); problem != "" {
				t.Fatalf("at the end: %s", problem)
			}
		})
	}
}
