package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestCrashKeepsAnsweredEvents kills the server with SIGKILL while
// clients call it, then checks that every call the server answered is on
// record: an event is committed before its answer.
func TestCrashKeepsAnsweredEvents(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	writeServerConfig(t, dataDir, "version: 1\ntunnel:\n  ports: [\"*\"]\n")
	srv := startServer(t, dataDir)
	cfg := srv.adminConfig(t)
	dialer, target := tunnelDialer(t, cfg, srv, localInstance(t, srv), echoServer(t))
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	stsc := sts.NewFromConfig(cfg)
	ec2c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), 1) })

	var mu sync.Mutex
	answered := map[string]string{} // request id → action
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	// Tunnels too: the request id of each tunnel a byte went through must
	// be on record (its 101 may come before the record is durable; no
	// byte flows before it is).
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000 && ctx.Err() == nil; i++ { // bounded
				tun, err := dialer.Dial(ctx, target)
				if err != nil {
					continue
				}
				if echoed(tun) {
					mu.Lock()
					answered[tun.RequestID] = "OpenTunnel"
					mu.Unlock()
				}
				tun.Close()
			}
		}()
	}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 5000 && ctx.Err() == nil; i++ { // bounded
				if id, action := signedCall(ctx, stsc, ec2c, w+i); id != "" {
					mu.Lock()
					answered[id] = action
					mu.Unlock()
				}
			}
		}(w)
	}
	// Let the load run, then kill the server in the middle of it.
	// The kill comes once both kinds are on the way: 300 answers, a
	// tunnel among them (the API calls' workers may well answer 300
	// before the first tunnel echoes: the kill must wait for it, not the
	// test fail).
	countTunnels := func() int {
		n := 0
		for _, a := range answered {
			if a == "OpenTunnel" {
				n++
			}
		}
		return n
	}
	killUnderLoad(t, srv, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		n, tunnels := len(answered), countTunnels()
		return n >= 300 && tunnels > 0, fmt.Sprintf("%d answered calls (%d tunnels), want 300 with a tunnel", n, tunnels)
	}, cancel, &wg)
	mu.Lock()
	defer mu.Unlock()
	tunnels := countTunnels()

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
	t.Logf("%d answered calls (%d tunnels opened), all on record (%d events in the store)", len(answered), tunnels, len(evs))
}

// echoed reports whether one byte went through tun to the echo target
// and back (within a minute: a guard, not a measure; a tunnel the kill
// cuts ends at once).
func echoed(tun *client.Tunnel) bool {
	if _, err := tun.Write([]byte{'x'}); err != nil {
		return false
	}
	_ = tun.SetReadDeadline(time.Now().Add(time.Minute))
	var b [1]byte
	n, err := io.ReadFull(tun, b[:])
	return err == nil && n == 1 && b[0] == 'x'
}

// killUnderLoad lets the workers in wg call srv until loaded reports that
// the load reached what the test needs (its detail says how far it got),
// kills the server with SIGKILL in the middle of that, then stops the
// workers and waits for them. A load that never gets there fails the
// test. The wait is bounded by loadGuard, a guard against a hang and not a
// measure of the load's speed: on a starved 2-core CI machine under -race
// the test's clients can take well over 30 s to get there.
func killUnderLoad(t *testing.T, srv *serverProc, loaded func() (bool, string), stop context.CancelFunc, wg *sync.WaitGroup) {
	t.Helper()
	deadline := time.Now().Add(loadGuard)
	for ok, _ := loaded(); !ok && !time.Now().After(deadline); ok, _ = loaded() { // bounded
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	stop()
	wg.Wait()
	if ok, detail := loaded(); !ok {
		t.Fatalf("the load before the kill fell short (%v): %s", loadGuard, detail)
	}
}

// loadGuard bounds killUnderLoad's wait for its load.
const loadGuard = 5 * time.Minute

// atLeast is a killUnderLoad condition: n() reached want.
func atLeast(what string, want int, n func() int) func() (bool, string) {
	return func() (bool, string) {
		got := n()
		return got >= want, fmt.Sprintf("%d %s, want %d", got, what, want)
	}
}

// echoServer is a TCP echo target on loopback; it returns the port.
func echoServer(t *testing.T) int { return tunneltest.Echo(t).Port }

// tunnelDialer returns a dialer with the admin's credentials and the
// resolved target of the local instance's port.
func tunnelDialer(t *testing.T, cfg aws.Config, srv *serverProc, instanceID string, port int) (*client.Dialer, client.Target) {
	t.Helper()
	roots := x509.NewCertPool()
	pemBytes, err := os.ReadFile(filepath.Join(srv.dataDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(pemBytes)
	target := client.Target{InstanceID: instanceID, RemotePort: port}
	if err := client.Resolve(context.Background(), ec2.NewFromConfig(cfg), &target); err != nil {
		t.Fatal(err)
	}
	d := &client.Dialer{Credentials: cfg.Credentials, Region: cfg.Region, TLS: &tls.Config{RootCAs: roots},
		DialAddr: strings.TrimPrefix(srv.url, "https://")}
	return d, target
}

// signedCall makes one signed API call, GetCallerIdentity for even k and
// DescribeVpcs for odd k, and returns the answer's request id and the
// action ("" when it was not answered).
func signedCall(ctx context.Context, stsc *sts.Client, ec2c *ec2.Client, k int) (requestID, action string) {
	var md middleware.Metadata
	if k%2 == 0 {
		out, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", ""
		}
		md, action = out.ResultMetadata, "GetCallerIdentity"
	} else {
		out, err := ec2c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
		if err != nil {
			return "", ""
		}
		md, action = out.ResultMetadata, "DescribeVpcs"
	}
	id, _ := awsmw.GetRequestIDMetadata(md)
	if id == "" {
		return "", ""
	}
	return id, action
}

// TestCrashLeavesNoUnrecordedChange kills the server with SIGKILL during a
// burst of CreateUser calls (some of them for names already taken, so that
// failures are in the burst too), restarts it, and checks the audit trail
// in both directions: every user in the store is named by a successful
// CreateUser event (a change never commits without its record), and every
// call the client saw answered is on record with the outcome the client
// saw, and every user whose creation was answered exists.
func TestCrashLeavesNoUnrecordedChange(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := startBareServer(t, dataDir)
	cfg := srv.adminConfig(t)
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} } // a retry would blur which call was answered
	iamc := iam.NewFromConfig(cfg)

	type answer struct{ user, code string } // code "" when the user was created
	var mu sync.Mutex
	answered := map[string]answer{} // request id → what the client saw
	const prefix = "crash-"
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 3000 && ctx.Err() == nil; i++ { // bounded
				name := fmt.Sprintf("%s%d-%d", prefix, w, i)
				if i%5 == 4 {
					name = fmt.Sprintf("%s%d-%d", prefix, w, i-1) // taken: EntityAlreadyExists
				}
				out, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
				var id, code string
				var re *awshttp.ResponseError
				switch {
				case err == nil:
					id, _ = awsmw.GetRequestIDMetadata(out.ResultMetadata)
				case errors.As(err, &re) && apiCode(err) != "":
					id, code = re.ServiceRequestID(), apiCode(err)
				}
				if id != "" {
					mu.Lock()
					answered[id] = answer{user: name, code: code}
					mu.Unlock()
				}
			}
		}(w)
	}
	// Let the burst run, then kill the server in the middle of it.
	killUnderLoad(t, srv, atLeast("answered calls", 400, func() int { mu.Lock(); defer mu.Unlock(); return len(answered) }), cancel, &wg)
	mu.Lock()
	defer mu.Unlock()

	// The server starts again on what the killed one left, and works.
	srv2 := startServer(t, dataDir)
	if _, err := iam.NewFromConfig(srv2.adminConfig(t)).CreateUser(context.Background(),
		&iam.CreateUserInput{UserName: aws.String("after-restart")}); err != nil {
		t.Fatalf("CreateUser after the restart: %v", err)
	}
	if err := srv2.stop(); err != nil {
		t.Fatalf("stop the restarted server: %v\n%s", err, srv2.output())
	}

	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dataDir, "postern.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ListEvents(context.Background(), store.EventQuery{EventName: "CreateUser"})
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]bool{}     // user names of successful CreateUser events
	byRequest := map[string]string{} // request id → error code of its event
	for _, e := range evs {
		byRequest[e.RequestID] = e.ErrorCode
		if e.ErrorCode == "" {
			created[strings.ToLower(e.ResourceName)] = true
		}
	}
	users, err := st.ListUsers(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	exists := map[string]bool{}
	unrecorded := 0
	for _, u := range users {
		exists[u.UserName] = true
		if !strings.HasPrefix(u.UserName, prefix) && u.UserName != "after-restart" {
			continue // the administrator, made at the first start
		}
		if !created[strings.ToLower(u.UserName)] {
			unrecorded++
			if unrecorded <= 5 {
				t.Errorf("user %s exists, but no CreateUser event names it", u.UserName)
			}
		}
	}
	lost := 0
	for id, a := range answered {
		code, ok := byRequest[id]
		switch {
		case !ok:
			lost++
			if lost <= 5 {
				t.Errorf("answered CreateUser %s (%s, code %q) is not on record", a.user, id, a.code)
			}
		case code != a.code:
			t.Errorf("CreateUser %s (%s): the record says error %q, the client saw %q", a.user, id, code, a.code)
		}
		if !exists[a.user] {
			t.Errorf("CreateUser %s (%s) was answered (code %q), but the user does not exist", a.user, id, a.code)
		}
	}
	if unrecorded > 0 || lost > 0 {
		t.Fatalf("%d users without a CreateUser event; %d of %d answered calls not on record", unrecorded, lost, len(answered))
	}
	t.Logf("%d answered CreateUser calls, %d users, %d CreateUser events: every user on record, every answer on record",
		len(answered), len(users), len(evs))
}
