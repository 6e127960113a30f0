package e2e

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
)

// TestCrashKeepsAnsweredEvents kills the server with SIGKILL while
// clients call it, then checks that every call the server answered is on
// record: an event is committed before its answer.
func TestCrashKeepsAnsweredEvents(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, dataDir)
	cfg := srv.adminConfig(t)
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	stsc := sts.NewFromConfig(cfg)
	ec2c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), 1) })

	var mu sync.Mutex
	answered := map[string]string{} // request id → action
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 5000 && ctx.Err() == nil; i++ { // bounded
				var md middleware.Metadata
				var action string
				if (w+i)%2 == 0 {
					out, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
					if err != nil {
						continue
					}
					md, action = out.ResultMetadata, "GetCallerIdentity"
				} else {
					out, err := ec2c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
					if err != nil {
						continue
					}
					md, action = out.ResultMetadata, "DescribeVpcs"
				}
				if id, ok := awsmw.GetRequestIDMetadata(md); ok && id != "" {
					mu.Lock()
					answered[id] = action
					mu.Unlock()
				}
			}
		}(w)
	}
	// Let the load run, then kill the server in the middle of it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(answered)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(answered) < 300 {
		t.Fatalf("only %d calls answered before the kill", len(answered))
	}

	// The database as the killed server left it.
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dataDir, "postern.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ListEvents(context.Background(), store.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, e := range evs {
		recorded[e.RequestID] = true
	}
	lost := 0
	for id, action := range answered {
		if !recorded[id] {
			lost++
			if lost <= 5 {
				t.Errorf("answered %s %s is not on record", action, id)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d answered calls lost their event", lost, len(answered))
	}
	t.Logf("%d answered calls, all on record (%d events in the store)", len(answered), len(evs))
}
