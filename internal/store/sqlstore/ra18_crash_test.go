package sqlstore

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/postern/postern/internal/store"
)

// ra18CrashEnv makes TestRA18CrashHelper, in a child process, run every
// kind of commit on the one write connection from several goroutines,
// replace the connection behind the pool's back now and then, print each
// write once it returned, and kill itself (SIGKILL) right after a durable
// one returned.
const ra18CrashEnv = "POSTERN_SQLSTORE_RA18_CRASH_DB"

// TestRA18CrashWithReplacedConnections: a process killed while durable
// group commits, writer transactions (InTx) and unsynced commits run on
// the one write connection, which database/sql replaces now and then
// (driver.ErrBadConn), loses nothing it acknowledged, stores nothing
// twice, and no durable commit ran at NORMAL (each read PRAGMA
// synchronous inside its own transaction).
func TestRA18CrashWithReplacedConnections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	out, stderr := killedChild(t, "TestRA18CrashHelper", ra18CrashEnv, path)
	var events []string
	writerTx := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "BAD "):
			t.Error(line)
		case strings.HasPrefix(line, "ACK "):
			events = append(events, strings.TrimPrefix(line, "ACK "))
			if strings.HasPrefix(line, "ACK tx-") {
				writerTx++
			}
		}
	}
	if len(events) < 100 || writerTx < 10 {
		t.Fatalf("the helper acknowledged %d records, %d of writer transactions, want at least 100 and 10:\n%s", len(events), writerTx, stderr)
	}
	_, stored := reopenChecked(t, path)
	for _, id := range events {
		if stored[id] != 1 {
			t.Errorf("record %s was acknowledged and is stored %d times", id, stored[id])
		}
	}
	t.Logf("%d records (%d of writer transactions) acknowledged before the kill; %d distinct records stored", len(events), writerTx, len(stored))
}

// TestRA18CrashHelper is the child process of
// TestRA18CrashWithReplacedConnections: without its environment variable
// it has nothing to do.
func TestRA18CrashHelper(t *testing.T) {
	path := os.Getenv(ra18CrashEnv)
	if path == "" {
		return
	}
	o := defaultSQLiteOptions()
	s, err := openSQLite(context.Background(), path, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	durable := 0
	ack := func(what string, isDurable bool) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, "ACK %s\n", what) // os.Stdout is not buffered
		if isDurable {
			if durable++; durable == 300 {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
		mu.Unlock()
	}
	bad := func(format string, args ...any) { fmt.Fprintf(os.Stdout, "BAD "+format+"\n", args...) }
	for w := range 3 {
		go func() { // durable group commits reading their mode, then the tunnel's close
			for i := 0; ; i++ {
				tunnel := "tnl-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				var mode int
				err := s.groupWrite(ctx, func(q querier) error {
					if err := s.group.h.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil {
						return err
					}
					return insertEvent(q, openEvent("open-"+tunnel, tunnel))
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "open:", err)
					continue
				}
				if mode != 2 {
					bad("open-%s committed at synchronous=%d", tunnel, mode)
				}
				ack("open-"+tunnel, true)
				if err := s.AppendEventsUnsynced(ctx, []store.Event{closeEvent("close-"+tunnel, tunnel)}); err != nil {
					fmt.Fprintln(os.Stderr, "close:", err)
					continue
				}
				ack("close-"+tunnel, false)
			}
		}()
		go func() { // writer transactions (InTx) reading their mode, read-only records, replaced connections
			for i := 0; ; i++ {
				id := "tx-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				var mode int
				err := s.writeTx(ctx, func(tx *cachedTx) error {
					if err := tx.Tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil {
						return err
					}
					return insertEvent(tx, gcEvent(id))
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "tx:", err)
				} else {
					if mode != 2 {
						bad("%s committed at synchronous=%d", id, mode)
					}
					ack(id, true)
				}
				if i%3 == 0 { // right after a durable commit: the flag says FULL
					if err := ra18Discard(ctx, s); err != nil {
						fmt.Fprintln(os.Stderr, "discard:", err)
					}
				}
				e := oneEvent(w*1_000_000 + i)
				if err := s.AppendEventsUnsynced(ctx, []store.Event{e}); err != nil {
					fmt.Fprintln(os.Stderr, "record:", err)
				} else {
					ack(e.EventID, false)
				}
			}
		}()
	}
	select {} // the signal ends the process
}
