package frontdoor_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/procstat"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// onDisk is what the server's database holds, and whether it is on the
// disk, at one moment.
type onDisk struct {
	guardRows int // presign_uses rows
	records   int // OpenTunnel records, allowed or refused
	unsynced  int // dirty or writeback pages of the database and its log
	err       error
}

// diskState reads it; it may run on any goroutine.
func diskState(ctx context.Context, e *tunneltest.Env) onDisk {
	path := filepath.Join(e.Dir, server.DatabaseFile)
	var st onDisk
	for _, f := range []string{path, path + "-wal"} {
		n, err := procstat.UnsyncedPages(f)
		if err != nil {
			return onDisk{err: err}
		}
		st.unsynced += n
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return onDisk{err: err}
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM presign_uses").Scan(&st.guardRows); err != nil {
		return onDisk{err: err}
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE event_name = 'OpenTunnel'").Scan(&st.records); err != nil {
		return onDisk{err: err}
	}
	return st
}

// TestGuardAndRecordOnDiskBeforeTheAnswer: the replay guard's write does
// not wait for the disk (store.UnsyncedPresignUses), yet the guard's row
// and the attempt's record are both on disk (no page of the database or
// its log left unsynced) when the target gets the tunnel's first byte,
// and when a replay's refusal reaches the client; the replay is refused
// and leaves exactly one record.
func TestGuardAndRecordOnDiskBeforeTheAnswer(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { allPorts(c); c.Tunnel.Replay = "single-use" }})
	ctx := context.Background()
	var mu sync.Mutex
	var atFirstByte onDisk
	target := startWatchedTarget(t, func() int {
		st := diskState(ctx, e)
		mu.Lock()
		atFirstByte = st
		mu.Unlock()
		return st.records
	})
	u, err := client.PresignURL(ctx, aws.Credentials(e.Admin), e.Region, e.Local(target.port), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := e.Dialer(e.Admin)
	before := diskState(ctx, e)
	if before.err != nil {
		t.Fatal(before.err)
	}
	for _, c := range []struct {
		name    string
		allowed bool
	}{{"first use", true}, {"replay", false}} {
		tun, err := d.DialURL(ctx, u, e.DNSName())
		var st onDisk
		if c.allowed {
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if _, err := tun.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if fr := waitOrFail(t, target.first, "the first byte at the target"); fr.n != 1 {
				t.Fatalf("%s: the target's first read %+v", c.name, fr)
			}
			mu.Lock()
			st = atFirstByte
			mu.Unlock()
			defer tun.Close()
		} else {
			wantRefusal(t, err, 403, "AccessDeniedException", "once")
			st = diskState(ctx, e)
		}
		if st.err != nil {
			t.Fatal(st.err)
		}
		if st.guardRows != before.guardRows+1 || st.records != before.records+1 {
			t.Errorf("%s: %d guard rows and %d OpenTunnel records, want %d and %d", c.name, st.guardRows, st.records,
				before.guardRows+1, before.records+1)
		}
		if st.unsynced != 0 {
			t.Errorf("%s: %d pages of the database or its log not on disk when the %s", c.name, st.unsynced,
				map[bool]string{true: "target got the first byte", false: "client got the refusal"}[c.allowed])
		}
		before.records++
	}
}
