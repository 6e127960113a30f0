package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/jackc/pgx/v5/stdlib" // the outside view of a PostgreSQL store
	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/eicapi"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// atomicBackend is a store under test and a way to look at what it has
// committed from outside the server: a connection of its own.
type atomicBackend struct {
	st      store.Store
	outside *sql.DB
	tables  string // the query listing the tables
}

// snapshot is everything committed, table by table (rows sorted), as
// seen from outside. skip names tables left out.
func (b atomicBackend) snapshot(t *testing.T, skip ...string) string {
	t.Helper()
	ctx := context.Background()
	var names []string
	rows, err := b.outside.QueryContext(ctx, b.tables)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(skip, n) {
			names = append(names, n)
		}
	}
	rows.Close()
	slices.Sort(names)
	var sb strings.Builder
	for _, n := range names {
		rows, err := b.outside.QueryContext(ctx, "SELECT * FROM "+n)
		if err != nil {
			t.Fatalf("read %s: %v", n, err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%v", vals))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		slices.Sort(lines)
		fmt.Fprintf(&sb, "%s:%d\n%s\n", n, len(lines), strings.Join(lines, "\n"))
	}
	return sb.String()
}

// TestCallAndRecordCommitTogether checks, against SQLite and a real
// PostgreSQL, that an API call's changes and its audit record are one
// commit: when an action returns, nothing it wrote is committed yet (so a
// crash at that moment leaves neither the change nor a record), and when
// the answer arrives both are. Failed and denied calls leave their record
// and no change. Every write action kind is covered: IAM, STS's session,
// EC2, Postern's EC2 actions and EC2 Instance Connect's self-recorded
// SendSSHPublicKey.
func TestCallAndRecordCommitTogether(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	backends := []struct {
		name string
		open func(t *testing.T) atomicBackend
	}{
		{"sqlite", func(t *testing.T) atomicBackend {
			path := filepath.Join(t.TempDir(), "t.db")
			st, err := sqlstore.OpenSQLite(ctx, path, logger)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return atomicBackend{st: st, outside: db, tables: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"}
		}},
		{"postgres", func(t *testing.T) atomicBackend {
			dsn := pgtest.Start(t)
			st, err := sqlstore.OpenPostgres(ctx, dsn, logger)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return atomicBackend{st: st, outside: db, tables: "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"}
		}},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testCallAndRecordCommitTogether(t, be.open(t)) })
	}
}

func testCallAndRecordCommitTogether(t *testing.T, b atomicBackend) {
	ctx := context.Background()
	const account, region = edgeAccount, edgeRegion
	st := b.st
	// Every action is watched: what is committed when it returns must be
	// what was committed when it began.
	var mu sync.Mutex
	var early []string
	e := startEdge(t, edgeOptions{store: st, audited: true, services: func(p edgeParts) []*api.Service {
		_, signer, _ := ed25519.GenerateKey(rand.Reader)
		eicSvc, err := eicapi.New(eicapi.Config{Store: st, AccountID: account, Region: region, Signer: signer, Audit: p.audit})
		if err != nil {
			t.Fatal(err)
		}
		services := []*api.Service{p.iam, p.sts, p.ec2, eicSvc, p.cloudTrail}
		for _, svc := range services {
			for name, fn := range svc.Actions {
				svc.Actions[name] = func(c *api.Call) (any, error) {
					before := b.snapshot(t)
					res, err := fn(c)
					if after := b.snapshot(t); after != before {
						mu.Lock()
						early = append(early, fmt.Sprintf("%s %s (error %v)", svc.SigningName, name, err))
						mu.Unlock()
					}
					return res, err
				}
			}
		}
		return services
	}})

	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	pushKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"sts:AssumeRole"}]}`
	vars := map[string]string{"adminKey": e.admin.AccessKeyID, "adminSecret": e.admin.SecretAccessKey}

	steps := []struct {
		name    string
		service string // signing name
		target  string // X-Amz-Target of a JSON call; "" for a form
		body    string // {name} is replaced from vars
		as      string // "key:secret" with {vars}; default the administrator
		code    string // the error code answered; "" for success
		capture map[string]string
		setup   func(t *testing.T)
	}{
		{name: "CreateUser", service: "iam", body: "Action=CreateUser&UserName=bob"},
		{name: "CreateUser taken", service: "iam", body: "Action=CreateUser&UserName=bob", code: "EntityAlreadyExists"},
		{name: "CreateUser nobody", service: "iam", body: "Action=CreateUser&UserName=nobody"},
		{name: "CreateAccessKey", service: "iam", body: "Action=CreateAccessKey&UserName=nobody",
			capture: map[string]string{"nobodyKey": `<AccessKeyId>(\w+)</AccessKeyId>`, "nobodySecret": `<SecretAccessKey>([^<]+)</SecretAccessKey>`}},
		{name: "CreateUser denied", service: "iam", body: "Action=CreateUser&UserName=carol", as: "{nobodyKey}:{nobodySecret}", code: "AccessDenied"},
		{name: "PutUserPolicy", service: "iam", body: "Action=PutUserPolicy&UserName=bob&PolicyName=p&PolicyDocument=" +
			url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}`)},
		{name: "PutUserPolicy malformed", service: "iam", body: "Action=PutUserPolicy&UserName=bob&PolicyName=q&PolicyDocument=%7B", code: "MalformedPolicyDocument"},
		{name: "CreateRole", service: "iam", body: "Action=CreateRole&RoleName=ops&AssumeRolePolicyDocument=" + url.QueryEscape(trust)},
		{name: "AssumeRole", service: "sts", body: "Action=AssumeRole&RoleArn=arn:aws:iam::" + account + ":role/ops&RoleSessionName=s1"},
		{name: "DeleteUser", service: "iam", body: "Action=DeleteUser&UserName=bob", code: "DeleteConflict"},
		{name: "CreateVpc", service: "ec2", body: "Action=CreateVpc&CidrBlock=10.0.0.0/16", capture: map[string]string{"vpc": `<vpcId>(vpc-\w+)</vpcId>`}},
		{name: "CreateVpc invalid", service: "ec2", body: "Action=CreateVpc&CidrBlock=10.0.0.0/40", code: "InvalidParameterValue"},
		{name: "CreateSubnet", service: "ec2", body: "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.0.1.0/24", capture: map[string]string{"subnet": `<subnetId>(subnet-\w+)</subnetId>`}},
		{name: "CreateInstanceConnectEndpoint", service: "ec2", body: "Action=CreateInstanceConnectEndpoint&SubnetId={subnet}",
			capture: map[string]string{"eice": `<instanceConnectEndpointId>(eice-\w+)</instanceConnectEndpointId>`}},
		{name: "RegisterInstance", service: "ec2", body: "Action=RegisterInstance&SubnetId={subnet}&PrivateIpAddress=10.0.1.10",
			capture: map[string]string{"instance": `<instanceId>(i-\w+)</instanceId>`}},
		{name: "SendSSHPublicKey", service: "ec2-instance-connect", target: "AWSEC2InstanceConnectService.SendSSHPublicKey",
			body: `{"InstanceId":"{instance}","InstanceOSUser":"ec2-user","SSHPublicKey":"` + pushKey + `"}`},
		{name: "SendSSHPublicKey denied", service: "ec2-instance-connect", target: "AWSEC2InstanceConnectService.SendSSHPublicKey",
			body: `{"InstanceId":"{instance}","InstanceOSUser":"ec2-user","SSHPublicKey":"` + pushKey + `"}`, as: "{nobodyKey}:{nobodySecret}", code: "AccessDeniedException"},
		{name: "RevokeEndpointAgent", service: "ec2", body: "Action=RevokeEndpointAgent&AgentId=eni-0123456789abcdef0", setup: func(t *testing.T) {
			if err := st.CreateAgent(ctx, store.Agent{AgentID: "eni-0123456789abcdef0", EndpointID: vars["eice"], Name: "a", KeyFingerprint: "00",
				CreatedAt: time.Now(), CreatedBy: "test"}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "DeleteInstanceConnectEndpoint", service: "ec2", body: "Action=DeleteInstanceConnectEndpoint&InstanceConnectEndpointId={eice}"},
		{name: "DescribeVpcs", service: "ec2", body: "Action=DescribeVpcs"},
	}
	expand := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	for _, s := range steps {
		if s.setup != nil {
			s.setup(t)
		}
		var header map[string]string
		if s.target != "" {
			header = map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": s.target}
		}
		creds := e.admin
		if s.as != "" {
			k, sec, _ := strings.Cut(expand(s.as), ":")
			creds = aws.Credentials{AccessKeyID: k, SecretAccessKey: sec}
		}
		req := e.signedAs(t, creds, s.service, "", expand(s.body), "", header)
		before := b.snapshot(t, "events")
		resp, out := send(t, req)
		id := resp.Header.Get("x-amzn-RequestId")
		if s.code == "" && resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", s.name, resp.StatusCode, out)
		}
		if s.code != "" && !strings.Contains(string(out), s.code) {
			t.Fatalf("%s: want error %s, got status %d: %s", s.name, s.code, resp.StatusCode, out)
		}
		for k, re := range s.capture {
			m := regexp.MustCompile(re).FindStringSubmatch(string(out))
			if m == nil {
				t.Fatalf("%s: no %s in %s", s.name, k, out)
			}
			vars[k] = m[1]
		}
		// The answered call is on record, with the outcome answered.
		evs, err := st.ListEvents(ctx, store.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var found []store.Event
		for _, e := range evs {
			if e.RequestID == id {
				found = append(found, e)
			}
		}
		if len(found) != 1 || found[0].ErrorCode != s.code {
			t.Errorf("%s: answered with %q, request %s; its records: %+v", s.name, s.code, id, found)
		}
		// A failed call changed nothing but the trail.
		if after := b.snapshot(t, "events"); s.code != "" && after != before {
			t.Errorf("%s: failed with %s but changed the store", s.name, s.code)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, e := range early {
		t.Errorf("%s: committed changes before its record (a crash then leaves a change no record names)", e)
	}
}
