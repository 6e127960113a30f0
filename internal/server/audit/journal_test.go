package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/store/storetest"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// journalStore is a store that journals open tunnels.
type journalStore interface {
	store.Store
	store.TunnelJournal
}

// journalBackends are the real stores these tests run on.
var journalBackends = []struct {
	name string
	open func(t *testing.T) journalStore
}{
	{"sqlite", func(t *testing.T) journalStore {
		st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "postern.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"postgres", func(t *testing.T) journalStore {
		st, err := sqlstore.OpenPostgres(context.Background(), pgtest.Start(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// openTunnels commits, in one batch, the OpenTunnel records of tunnels
// tun-<req> under carrier, opened a second apart from opened on.
func openTunnels(t *testing.T, w *Writer, st journalStore, carrier string, opened time.Time, reqs ...string) {
	t.Helper()
	st.SetTunnelCarrier(carrier)
	var evs []store.Event
	for i, req := range reqs {
		e, err := Event(openRec("", req, opened.Add(time.Duration(i)*time.Second)), "tun-"+req, params.InstanceConnectEndpointID)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if err := st.AppendEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	w.b.toSinks(evs)
}

// journalled lists the journal's tunnels.
func journalled(t *testing.T, st journalStore) []string {
	t.Helper()
	us, err := storetest.UnclosedTunnels(context.Background(), st, nil, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range us {
		ids = append(ids, u.TunnelID)
	}
	return ids
}

// A tunnel whose close CloseUnclosedTunnels cannot commit does not stop
// it: the tunnels after it are closed, the failure is returned (with the
// count of those closed), and the tunnel stays in the journal for the
// next run. More failing tunnels than a page holds do not stop it either.
// The failure here is a record already holding the recovered close's id.
func TestCloseUnclosedTunnelsGoesOnPastAFailure(t *testing.T) {
	for _, b := range journalBackends {
		for _, tc := range []struct {
			name    string
			n       int              // tunnels, opened a second apart
			failing func(i int) bool // whether the i-th one's close fails
		}{
			{"one failing between two", 3, func(i int) bool { return i == 1 }},
			{"more failing than a page, then two", unclosedPage + 5, func(i int) bool { return i < unclosedPage+3 }},
		} {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				st := b.open(t)
				w := NewWriter(st, nil)
				opened := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Microsecond)
				var reqs, bad []string
				var planted []store.Event
				for i := range tc.n {
					req := fmt.Sprintf("r%03d", i)
					reqs = append(reqs, req)
					if tc.failing(i) {
						bad = append(bad, "tun-"+req)
						planted = append(planted, store.Event{EventID: UnclosedEventID("tun-" + req), EventTime: opened,
							EventSource: SourceInstanceConn, EventName: "Planted", Body: "{}"})
					}
				}
				if err := st.AppendEvents(ctx, planted); err != nil {
					t.Fatal(err)
				}
				openTunnels(t, w, st, "gone", opened, reqs...)
				st.SetTunnelCarrier("me")
				u := Unclosed{Keep: []string{"me"}, Reason: ReasonServerRestart}
				n, err := w.CloseUnclosedTunnels(ctx, st, u)
				if good := tc.n - len(bad); n != good {
					t.Fatalf("closed %d (%v), want %d: a failure stopped the rest", n, err, good)
				}
				if err == nil || !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), bad[0]) {
					t.Fatalf("error %v, want the failure of %s (store.ErrConflict)", err, bad[0])
				}
				if extra := len(bad) - maxUnclosedErrors; extra > 0 && !strings.Contains(err.Error(), fmt.Sprintf("%d more tunnels not closed", extra)) {
					t.Fatalf("error %v does not count the %d failures beyond the first %d", err, extra, maxUnclosedErrors)
				}
				if got := journalled(t, st); !slices.Equal(got, bad) {
					t.Fatalf("left in the journal %d %q, want the %d failing ones", len(got), got, len(bad))
				}
				// The next run tries them again, and closes nothing twice.
				if n, err := w.CloseUnclosedTunnels(ctx, st, u); n != 0 || err == nil {
					t.Fatalf("second run: closed %d, %v; want 0 and the failures", n, err)
				}
			})
		}
	}
}

// The real close of a tunnel whose close recovery recorded (its server
// was taken for gone while it ran) is not stored: Write returns
// store.ErrCloseRecovered with what that close said (for the log), the
// store and the audit file keep the one recovered record, and the
// records written with it are stored.
func TestLateRealCloseIsNotASecondRecord(t *testing.T) {
	for _, b := range journalBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st := b.open(t)
			sinkPath := filepath.Join(t.TempDir(), "audit.jsonl")
			sink, err := NewFileSink(sinkPath, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			w := NewWriter(st, func(err error) { t.Errorf("sink: %v", err) }, sink)
			opened := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Microsecond)
			openTunnels(t, w, st, "cut-off", opened, "r1")
			// Another replica takes "cut-off" for gone.
			if n, err := w.CloseUnclosedTunnels(ctx, st, Unclosed{Keep: []string{"other"}, Reason: ReasonReplicaGone}); n != 1 || err != nil {
				t.Fatalf("recovery: %d, %v", n, err)
			}
			// "cut-off" ran on and records the real close.
			real := CloseTunnel(meta(role(), ""), CloseDetails{TunnelID: "tun-r1", Reason: "Normal", BytesIn: 1234, BytesOut: 5678,
				DurationSeconds: 61}, eiceARN)
			err = w.Write(ctx, real, "tun-r1", params.InstanceConnectEndpointID)
			if !errors.Is(err, store.ErrCloseRecovered) {
				t.Fatalf("the late real close: %v, want store.ErrCloseRecovered", err)
			}
			for _, want := range []string{"tun-r1", "1234 bytes in", "5678 bytes out", "reason Normal", real.EventTime} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("the error %q does not say %q", err, want)
				}
			}
			evs, err := st.ListEvents(ctx, store.EventQuery{EventName: EventCloseTunnel, TunnelID: "tun-r1", Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].EventID != UnclosedEventID("tun-r1") {
				t.Fatalf("CloseTunnel records of tun-r1 %+v, want the recovered one alone", evs)
			}
			w.CloseSinks()
			file, err := os.ReadFile(sinkPath)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(file), `"eventName":"CloseTunnel"`); n != 1 {
				t.Fatalf("the audit file holds %d CloseTunnel records, want 1:\n%s", n, file)
			}
		})
	}
}

// A tunnel's OpenTunnel and CloseTunnel records commit durably with their
// journal row even when marked read-only (which sends other records down
// the unsynced path, SQLite's, that leaves the journal alone).
func TestTunnelRecordsNeverReadOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		evs  []store.Event
		want bool
	}{
		{"read-only calls", []store.Event{{ReadOnly: true, EventName: "DescribeThings"}}, true},
		{"a read-only call and a write", []store.Event{{ReadOnly: true}, {}}, false},
		{"an open marked read-only", []store.Event{{ReadOnly: true, EventName: EventOpenTunnel, TunnelID: "t"}}, false},
		{"a close marked read-only", []store.Event{{ReadOnly: true, EventName: EventCloseTunnel, TunnelID: "t"}}, false},
		{"a refused open marked read-only (no tunnel)", []store.Event{{ReadOnly: true, EventName: EventOpenTunnel}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := allReadOnly(tc.evs); got != tc.want {
				t.Fatalf("allReadOnly = %v, want %v", got, tc.want)
			}
		})
	}
	// Through the Batcher, on SQLite (the store with the unsynced path).
	ctx := context.Background()
	st := journalBackends[0].open(t)
	w := NewWriter(st, nil)
	opened := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	open := openRec("", "r1", opened)
	oe, err := Event(open, "tun-r1", params.InstanceConnectEndpointID)
	if err != nil {
		t.Fatal(err)
	}
	oe.ReadOnly = true
	if err := w.b.Append(ctx, oe); err != nil {
		t.Fatal(err)
	}
	if got := journalled(t, st); !slices.Equal(got, []string{"tun-r1"}) {
		t.Fatalf("journal after an open marked read-only: %q, want tun-r1", got)
	}
	ce, err := Event(CloseTunnel(meta(role(), ""), CloseDetails{TunnelID: "tun-r1", Reason: "Normal"}, eiceARN), "tun-r1", params.InstanceConnectEndpointID)
	if err != nil {
		t.Fatal(err)
	}
	ce.ReadOnly = true
	if err := w.b.Append(ctx, ce); err != nil {
		t.Fatal(err)
	}
	if got := journalled(t, st); len(got) != 0 {
		t.Fatalf("journal after a close marked read-only: %q, want empty", got)
	}
}

// Writer.Committed's channel closes at the next commit, whichever path
// commits (a Write, a recovered close), and not before.
func TestWriterCommitted(t *testing.T) {
	ctx := context.Background()
	st := journalBackends[0].open(t)
	w := NewWriter(st, nil)
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	ch := w.Committed()
	if closed(ch) || w.Committed() != ch {
		t.Fatal("the signal closed with no commit, or a second one was made")
	}
	opened := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	st.SetTunnelCarrier("gone")
	if err := w.Write(ctx, openRec("", "r1", opened), "tun-r1", params.InstanceConnectEndpointID); err != nil {
		t.Fatal(err)
	}
	if !closed(ch) {
		t.Fatal("a Write's commit did not close the signal")
	}
	ch = w.Committed()
	if closed(ch) {
		t.Fatal("the next signal is closed already")
	}
	st.SetTunnelCarrier("me")
	if n, err := w.CloseUnclosedTunnels(ctx, st, Unclosed{Keep: []string{"me"}, Reason: ReasonServerRestart}); n != 1 || err != nil {
		t.Fatalf("recovery: %d, %v", n, err)
	}
	if !closed(ch) {
		t.Fatal("a recovered close did not close the signal")
	}
	if (*Writer)(nil).Committed() != nil {
		t.Fatal("a nil Writer's signal is not nil")
	}
}

// A tunnel's CloseTunnel record (alone, or with read-only calls' records)
// may commit without waiting for the disk; an OpenTunnel record, a
// write's, or a close without a tunnel never may.
func TestMayCommitUnsynced(t *testing.T) {
	closeRec := store.Event{EventName: EventCloseTunnel, TunnelID: "t"}
	for _, tc := range []struct {
		name string
		evs  []store.Event
		want bool
	}{
		{"read-only calls", []store.Event{{ReadOnly: true, EventName: "DescribeThings"}}, true},
		{"a tunnel's close", []store.Event{closeRec}, true},
		{"a close and a read-only call", []store.Event{closeRec, {ReadOnly: true, EventName: "DescribeThings"}}, true},
		{"a close and a write", []store.Event{closeRec, {EventName: "CreateThing"}}, false},
		{"a close and an open", []store.Event{closeRec, {EventName: EventOpenTunnel, TunnelID: "u"}}, false},
		{"an open marked read-only", []store.Event{{ReadOnly: true, EventName: EventOpenTunnel, TunnelID: "t"}}, false},
		{"a close without a tunnel", []store.Event{{EventName: EventCloseTunnel}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mayCommitUnsynced(tc.evs); got != tc.want {
				t.Fatalf("mayCommitUnsynced = %v, want %v", got, tc.want)
			}
		})
	}
}
