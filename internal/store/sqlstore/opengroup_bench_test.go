package sqlstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// tunnelRecord is a tunnel's OpenTunnel or CloseTunnel record with a body
// of the usual size (~1.3 KB).
func tunnelRecord(name, tunnelID string) store.Event {
	id := uuid.Must(uuid.NewV7()).String()
	body := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEEXAMPLE01",` +
		`"arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","accessKeyId":"AKIAIOSFODNN7EXAMPLE",` +
		`"userName":"alice"},"eventTime":"2026-12-06T08:00:00Z","eventSource":"ec2-instance-connect.amazonaws.com",` +
		`"eventName":"` + name + `","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7",` +
		`"userAgent":"aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.24 md/GOOS#linux md/GOARCH#amd64",` +
		`"requestParameters":{"instanceConnectEndpointId":"eice-0123456789abcdef0","remotePort":"22",` +
		`"privateIpAddress":"10.0.1.17","maxTunnelDuration":"3600"},"responseElements":null,` +
		`"additionalEventData":{"tunnelId":"` + tunnelID + `"},` +
		`"requestID":"83c3f923-507f-7265-fabb-967ec5c4e1fe","eventID":"` + id + `","readOnly":false,"eventType":"AwsApiCall",` +
		`"managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management"}`
	return store.Event{EventID: id, EventTime: time.Now(), EventSource: "ec2-instance-connect.amazonaws.com", EventName: name,
		Username: "alice", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", ResourceType: "AWS::EC2::InstanceConnectEndpoint",
		ResourceName: "eice-0123456789abcdef0", TunnelID: tunnelID, RequestID: "83c3f923-507f-7265-fabb-967ec5c4e1fe", Body: body}
}

// walPosition is PostgreSQL's WAL insert position in bytes (0 for SQLite).
func walPosition(b *testing.B, s *Store, db string) int64 {
	if db != "postgres" {
		return 0
	}
	var n int64
	if err := s.repo.read().QueryRowContext(context.Background(),
		"SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint").Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// procWchar is the bytes this process passed to write(2) and its kind so
// far (/proc/self/io wchar): the WAL's frames and the checkpoints' pages.
func procWchar(b *testing.B) int64 { return procIO(b, "wchar") }

// procRchar is the bytes this process got from read(2) and its kind so far
// (/proc/self/io rchar): pages SQLite re-read from the WAL or the database
// file after another connection's commit dropped its page cache, and the
// WAL frames a checkpoint copies.
func procRchar(b *testing.B) int64 { return procIO(b, "rchar") }

// procIO is the counter named key in /proc/self/io (-1 when it cannot be read).
func procIO(b *testing.B, key string) int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	return -1
}

// BenchmarkTunnelOpenStore is the store's share of a group of tunnel
// opens and closes as the server makes them in a burst: for each of the
// group's tunnels the replay guard's write (RecordPresignUseUnsynced,
// concurrent callers: one unsynced group commit), then the group's
// OpenTunnel records committed together (AppendEvents, as the audit
// batcher does: each with its journal row), then their CloseTunnel
// records. Into a database already holding 20,000 tunnels' records
// (PostgreSQL one at a time: 2,000).
// cpu-us/open is the process's CPU per tunnel (open and close, SQLite's
// checkpoints included); wchar-B/open the bytes written per tunnel,
// rchar-B/open those read (pages re-read after a commit of the other
// write connection dropped a connection's page cache, WAL frames a
// checkpoint copies).
func BenchmarkTunnelOpenStore(b *testing.B) {
	for _, c := range []struct {
		db    string
		group int
	}{{"sqlite", 1}, {"sqlite", 16}, {"sqlite", 64}, {"postgres", 1}, {"postgres", 64}} {
		group := c.group
		b.Run(c.db+"/group"+strconv.Itoa(group), func(b *testing.B) {
			ctx := context.Background()
			var s *Store
			if c.db == "sqlite" {
				s, _ = openTemp(b, defaultSQLiteOptions())
			} else {
				ps, err := OpenPostgres(ctx, pgtest.Start(b), nil)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { ps.Close() })
				s = ps.s
			}
			n := 0
			opens := make([]store.Event, group)
			closes := make([]store.Event, group)
			round := func() {
				var wg sync.WaitGroup
				for i := range group {
					wg.Add(1)
					go func() {
						defer wg.Done()
						sig := sha256.Sum256([]byte(strconv.Itoa(n + i)))
						now := time.Now()
						if _, first, err := s.RecordPresignUseUnsynced(ctx, store.PresignUse{SignatureHash: sig[:],
							SourceIP: "203.0.113.7", FirstUsedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil || !first {
							b.Errorf("RecordPresignUseUnsynced: first %v, %v", first, err)
						}
					}()
				}
				wg.Wait()
				for i := range group {
					tid := "tunnel-" + strconv.Itoa(n+i)
					opens[i], closes[i] = tunnelRecord(store.EventNameOpenTunnel, tid), tunnelRecord(store.EventNameCloseTunnel, tid)
				}
				n += group
				if err := s.AppendEvents(ctx, opens); err != nil {
					b.Fatal(err)
				}
				// As the server does (audit's Batcher.append): a tunnel's
				// CloseTunnel does not wait for the disk where the store
				// allows it (SQLite), and is committed durably elsewhere.
				err := s.AppendEventsUnsynced(ctx, closes)
				if errors.Is(err, errors.ErrUnsupported) {
					err = s.AppendEvents(ctx, closes)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			warm := 20000
			if c.db == "postgres" && group == 1 {
				warm = 2000
			}
			for n < warm {
				round()
			}
			cpu, w, r, lsn := processCPU(), procWchar(b), procRchar(b), walPosition(b, s, c.db)
			for b.Loop() {
				round()
			}
			tunnels := float64(b.N * group)
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/tunnels, "cpu-us/open")
			if c.db == "sqlite" {
				b.ReportMetric(float64(procWchar(b)-w)/tunnels, "wchar-B/open")
				b.ReportMetric(float64(procRchar(b)-r)/tunnels, "rchar-B/open")
			} else {
				// The server's: its WAL, the client's CPU above.
				b.ReportMetric(float64(walPosition(b, s, c.db)-lsn)/tunnels, "pgwal-B/open")
			}
		})
	}
}
