package webterm

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/store/sqlstore"
)

// refusalTrail is a terminal reading a real SQLite store's trail, written
// through the real audit writer, for the tests of Terminal.refusal.
type refusalTrail struct {
	term   *Terminal
	w      *audit.Writer
	caller *Caller
	since  time.Time
}

// newRefusalTrail opens a fresh store; akid is the caller's access key.
func newRefusalTrail(t *testing.T, akid string) *refusalTrail {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "postern.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &refusalTrail{term: &Terminal{cfg: Config{Store: st}, log: slog.New(slog.DiscardHandler)}, w: audit.NewWriter(st, nil),
		caller: &Caller{Credentials: aws.Credentials{AccessKeyID: akid}}, since: time.Now()}
}

// meta is the records' metadata for requestID.
func (r *refusalTrail) meta(requestID string) audit.Meta {
	return audit.Meta{AccountID: "123456789012", Region: "eu-west-1", AccessKeyID: r.caller.Credentials.AccessKeyID,
		RequestID: requestID, Time: time.Now()}
}

// openAndClose records tunnel d.TunnelID's OpenTunnel for requestID, then
// its CloseTunnel d (which names that OpenTunnel).
func (r *refusalTrail) openAndClose(t *testing.T, requestID string, d audit.CloseDetails) {
	t.Helper()
	ctx := context.Background()
	m := r.meta(requestID)
	rec := audit.OpenTunnel(m, audit.OpenTunnelParams{}, "", audit.OpenTunnelData{TunnelID: d.TunnelID}, "", "")
	if err := r.w.Write(ctx, rec, d.TunnelID, ""); err != nil {
		t.Fatal(err)
	}
	m.Time = time.Now()
	d.OpenEventID = rec.EventID
	if err := r.w.Write(ctx, audit.CloseTunnel(m, d, ""), d.TunnelID, ""); err != nil {
		t.Fatal(err)
	}
}
