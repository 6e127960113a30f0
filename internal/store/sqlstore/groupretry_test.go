package sqlstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/postern/postern/internal/testutil/pgtest"
)

// A PostgreSQL group commit in which one write fails as a serialization
// failure (a write skew with a concurrent transaction: the group read
// what the other wrote, and wrote what the other read) commits the other
// writes, each run once, and runs the failed one again alone after them;
// every caller is answered once its write is committed, and nothing is
// stored twice.
func TestGroupRetriesAConflictingWriteAlone(t *testing.T) {
	s := openPG(t, pgtest.Start(t)).s
	ctx := context.Background()
	if _, err := s.writer.ExecContext(ctx, "CREATE TABLE skew (k TEXT NOT NULL); CREATE TABLE other (v INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	other, err := s.writer.Conn(ctx) // the concurrent transaction's
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	h := hookGroups(s)

	var runs [3]atomic.Int32
	var skewErr error // the concurrent transaction's failure, if any
	writes := [3]func(q querier) error{
		func(q querier) error { // reads 'a'; the concurrent transaction then writes 'a' and reads 'b'
			var n int
			if err := q.QueryRowContext(ctx, "SELECT count(*) FROM skew WHERE k = 'a'").Scan(&n); err != nil {
				return err
			}
			if runs[0].Add(1) == 1 {
				for _, stmt := range []string{"BEGIN ISOLATION LEVEL SERIALIZABLE", "SELECT count(*) FROM skew WHERE k = 'b'",
					"INSERT INTO skew (k) VALUES ('a')", "COMMIT"} {
					if _, err := other.ExecContext(ctx, stmt); err != nil {
						skewErr = err
						break
					}
				}
			}
			_, err := q.ExecContext(ctx, "INSERT INTO other (v) VALUES (1)")
			return err
		},
		func(q querier) error { // writes 'b': the skew
			runs[1].Add(1)
			_, err := q.ExecContext(ctx, "INSERT INTO skew (k) VALUES ('b')")
			return err
		},
		func(q querier) error {
			runs[2].Add(1)
			_, err := q.ExecContext(ctx, "INSERT INTO other (v) VALUES (3)")
			return err
		},
	}
	// The three queue, in order, behind a running group: they make the
	// next group together.
	release := block(t, s)
	var wg sync.WaitGroup
	var errs [3]error
	for i, w := range writes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.groupWrite(ctx, w) }()
		h.waitQueued(t, 1)
	}
	release()
	wg.Wait()
	if skewErr != nil {
		t.Fatalf("the concurrent transaction: %v", skewErr)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if got := h.groups(); len(got) < 2 || got[1] != 3 {
		t.Fatalf("groups %v: the three writes did not share one", got)
	}
	if r := [3]int32{runs[0].Load(), runs[1].Load(), runs[2].Load()}; r != [3]int32{1, 2, 1} {
		t.Fatalf("the writes ran %v times, want [1 2 1]: only the conflicting one runs again", r)
	}
	for _, c := range []struct {
		query string
		want  int
	}{
		{"SELECT count(*) FROM other WHERE v = 1", 1},
		{"SELECT count(*) FROM other WHERE v = 3", 1},
		{"SELECT count(*) FROM skew WHERE k = 'a'", 1},
		{"SELECT count(*) FROM skew WHERE k = 'b'", 1},
	} {
		var n int
		if err := s.writer.QueryRowContext(ctx, c.query).Scan(&n); err != nil || n != c.want {
			t.Errorf("%s: %d, %v; want %d", c.query, n, err, c.want)
		}
	}
}

// A group whose commit fails for a reason of its own (here a deferred
// constraint, as a lost connection would) after one of its writes failed
// as a serialization failure and was undone is not run again: every
// caller gets the commit's failure and no write runs twice. The undone
// write's failure does not make the group's commit one to retry.
func TestGroupCommitFailureAfterAnUndoneConflictIsNotRetried(t *testing.T) {
	s := openPG(t, pgtest.Start(t)).s
	ctx := context.Background()
	if _, err := s.writer.ExecContext(ctx, "CREATE TABLE skew (k TEXT NOT NULL); CREATE TABLE other (v INTEGER NOT NULL);"+
		" CREATE TABLE once (k TEXT NOT NULL, CONSTRAINT once_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED);"+
		" INSERT INTO once (k) VALUES ('x')"); err != nil {
		t.Fatal(err)
	}
	other, err := s.writer.Conn(ctx) // the concurrent transaction's
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	h := hookGroups(s)

	var runs [3]atomic.Int32
	var skewErr error
	writes := [3]func(q querier) error{
		func(q querier) error { // as in TestGroupRetriesAConflictingWriteAlone
			var n int
			if err := q.QueryRowContext(ctx, "SELECT count(*) FROM skew WHERE k = 'a'").Scan(&n); err != nil {
				return err
			}
			if runs[0].Add(1) == 1 {
				for _, stmt := range []string{"BEGIN ISOLATION LEVEL SERIALIZABLE", "SELECT count(*) FROM skew WHERE k = 'b'",
					"INSERT INTO skew (k) VALUES ('a')", "COMMIT"} {
					if _, err := other.ExecContext(ctx, stmt); err != nil {
						skewErr = err
						break
					}
				}
			}
			_, err := q.ExecContext(ctx, "INSERT INTO other (v) VALUES (1)")
			return err
		},
		func(q querier) error { // the skew: undone
			runs[1].Add(1)
			_, err := q.ExecContext(ctx, "INSERT INTO skew (k) VALUES ('b')")
			return err
		},
		func(q querier) error { // fails the commit
			runs[2].Add(1)
			_, err := q.ExecContext(ctx, "INSERT INTO once (k) VALUES ('x')")
			return err
		},
	}
	release := block(t, s)
	var wg sync.WaitGroup
	var errs [3]error
	for i, w := range writes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.groupWrite(ctx, w) }()
		h.waitQueued(t, 1)
	}
	release()
	wg.Wait()
	if skewErr != nil {
		t.Fatalf("the concurrent transaction: %v", skewErr)
	}
	if got := h.groups(); len(got) < 2 || got[1] != 3 {
		t.Fatalf("groups %v: the three writes did not share one", got)
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("write %d: no error, but its group's commit failed", i)
		}
	}
	if r := [3]int32{runs[0].Load(), runs[1].Load(), runs[2].Load()}; r != [3]int32{1, 1, 1} {
		t.Fatalf("the writes ran %v times, want [1 1 1]: a commit that failed on its own is not run again", r)
	}
	for _, q := range []string{"SELECT count(*) FROM other", "SELECT count(*) FROM skew WHERE k = 'b'"} {
		var n int
		if err := s.writer.QueryRowContext(ctx, q).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d, %v; want 0", q, n, err)
		}
	}
}
