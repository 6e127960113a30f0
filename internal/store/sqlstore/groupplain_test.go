package sqlstore

import (
	"context"
	"errors"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// goroutinesCreated is the process's count of goroutines created so far.
func goroutinesCreated(t *testing.T) uint64 {
	t.Helper()
	sample := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("runtime/metrics has no %s", sample[0].Name)
	}
	return sample[0].Value.Uint64()
}

// TestGroupCommitStartsNoGoroutinePerTransaction: with SQLite and one
// writer, a group commit runs without a database/sql transaction
// (plainWriteTx), which started a goroutine per transaction (awaitDone)
// and one per query inside it. A replay guard's record (an INSERT and a
// read back) in the durable group and in the unsynced group is measured
// with the process's count of created goroutines; the control runs the
// same writes in database/sql transactions (the handle not plain), which
// the count must see.
func TestGroupCommitStartsNoGoroutinePerTransaction(t *testing.T) {
	const n = 200
	cases := []struct {
		name  string
		plain bool
		// record is one write of a group: the replay guard's record.
		unsynced bool
	}{
		{"durable group, plain transaction", true, false},
		{"unsynced group, plain transaction", true, true},
		{"control: durable group in a database/sql transaction", false, false},
		{"control: unsynced group in a database/sql transaction", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTemp(t, defaultSQLiteOptions())
			s.group.h.plain, s.unsyncedGroup.h.plain = tc.plain, tc.plain
			ctx := t.Context()
			record := func(i int) {
				u := store.PresignUse{SignatureHash: []byte(tc.name + strconv.Itoa(i)), SourceIP: "192.0.2.1",
					FirstUsedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
				var first bool
				var err error
				if tc.unsynced {
					_, first, err = s.RecordPresignUseUnsynced(ctx, u)
				} else {
					_, first, err = s.RecordPresignUse(ctx, u)
				}
				if err != nil || !first {
					t.Fatalf("record %d: first %v, %v", i, first, err)
				}
			}
			for i := range 10 { // warm up: statements prepared, the log's sync scheduled
				record(-1 - i)
			}
			before := goroutinesCreated(t)
			for i := range n {
				record(i)
			}
			created := goroutinesCreated(t) - before
			t.Logf("%d goroutines created for %d group commits", created, n)
			if tc.plain && created > n/4 {
				// Allowance: the unsynced log's sync (one per
				// UnsyncedWindow) and the test's own.
				t.Errorf("%d goroutines created for %d group commits, want none per commit", created, n)
			}
			if !tc.plain && created < n {
				t.Errorf("control: %d goroutines created for %d database/sql transactions: the count does not see them", created, n)
			}
		})
	}
}

// TestPlainGroupTransactionEnds: a group commit without a database/sql
// transaction undoes a write that fails and one that panics, and leaves
// its connection outside any transaction (the next group's BEGIN
// IMMEDIATE would fail otherwise): the next write commits and is seen by
// another connection.
func TestPlainGroupTransactionEnds(t *testing.T) {
	errWrite := errors.New("the write fails after its insert")
	cases := []struct {
		name string
		fn   func(q querier, e store.Event) error
	}{
		{"a write that fails", func(q querier, e store.Event) error {
			if err := insertEvent(q, e); err != nil {
				return err
			}
			return errWrite
		}},
		{"a write that panics", func(q querier, e store.Event) error {
			if err := insertEvent(q, e); err != nil {
				return err
			}
			panic(errWrite)
		}},
	}
	for _, group := range []string{"durable", "unsynced"} {
		for _, tc := range cases {
			t.Run(group+": "+tc.name, func(t *testing.T) {
				s, _ := openTemp(t, defaultSQLiteOptions())
				g := &s.group
				if group == "unsynced" {
					g = &s.unsyncedGroup
				}
				if !g.h.plain {
					t.Fatal("the SQLite store's group does not run plain transactions")
				}
				ctx := t.Context()
				bad, good := gcEvent("bad-"+group), gcEvent("good-"+group)
				err := func() (err error) {
					defer func() {
						if p := recover(); p != nil {
							err = p.(error)
						}
					}()
					return s.groupWriteOn(g, ctx, func(q querier) error { return tc.fn(q, bad) })
				}()
				if !errors.Is(err, errWrite) {
					t.Fatalf("failing write: %v, want %v", err, errWrite)
				}
				if err := s.groupWriteOn(g, ctx, func(q querier) error { return insertEvent(q, good) }); err != nil {
					t.Fatalf("next write: %v", err)
				}
				for id, want := range map[string]int{bad.EventID: 0, good.EventID: 1} {
					var got int
					if err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE event_id = ?", id).Scan(&got); err != nil {
						t.Fatalf("count %s: %v", id, err)
					}
					if got != want {
						t.Errorf("event %s stored %d times, want %d", id, got, want)
					}
				}
			})
		}
	}
}

func insertEvent(q querier, e store.Event) error {
	_, err := q.ExecContext(context.Background(), unsyncedInsert, e.EventID, optMicros(e.EventTime), e.EventSource, e.EventName,
		boolInt(e.ReadOnly), e.Username, e.AccessKeyID, e.ResourceType, e.ResourceName, e.ErrorCode, e.TunnelID, e.RequestID, e.Body)
	return err
}

// BenchmarkGroupTransaction: an open's store writes one at a time, the
// replay guard's record (unsynced group) and the OpenTunnel record
// (durable group), with the group commits in plain transactions
// (plainWriteTx) and, for comparison, in database/sql transactions.
// cpu-us/op is the process's CPU per open's pair of writes.
func BenchmarkGroupTransaction(b *testing.B) {
	for _, plain := range benchPlainOrder {
		name := "sql.Tx"
		if plain {
			name = "plain"
		}
		b.Run(name, func(b *testing.B) {
			s, _ := openTemp(b, defaultSQLiteOptions())
			s.group.h.plain, s.unsyncedGroup.h.plain = plain, plain
			ctx := context.Background()
			i := 0
			cpu := processCPU()
			for b.Loop() {
				i++
				id := name + "-" + strconv.Itoa(i)
				u := store.PresignUse{SignatureHash: []byte(id), SourceIP: "192.0.2.1", FirstUsedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
				if _, _, err := s.RecordPresignUseUnsynced(ctx, u); err != nil {
					b.Fatal(err)
				}
				if err := s.AppendEvent(ctx, gcEvent(id)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
		})
	}
}

// benchPlainOrder is the order BenchmarkGroupTransaction runs its cases
// in: database/sql's, then plain (swap it to see that the order does not
// decide the figures).
var benchPlainOrder = []bool{false, true}
