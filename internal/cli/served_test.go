package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/cli/served"
	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/ctapi"
	"github.com/postern/postern/internal/server/ec2api"
	"github.com/postern/postern/internal/server/eicapi"
	"github.com/postern/postern/internal/server/iamapi"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store/sqlstore"
)

// serverServices builds the server's API services over a real store, as
// the server does, for their handler tables.
func serverServices(t *testing.T) map[string]*api.Service {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, sealer.KeySize)
	rand.Read(key)
	seal, err := sealer.New(key)
	if err != nil {
		t.Fatal(err)
	}
	_, signer, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const account, region = "123456789012", "us-east-1"
	iamCfg := iamapi.Config{Store: st, Sealer: seal, Authorizer: identity.NewAuthorizer(st, nil), AccountID: account}
	must := func(s *api.Service, err error) *api.Service {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return map[string]*api.Service{
		"iam":                  must(iamapi.NewIAM(iamCfg)),
		"sts":                  must(iamapi.NewSTS(iamCfg)),
		"ec2":                  must(ec2api.NewEC2(ec2api.Config{Store: st, AccountID: account, Region: region, DNSName: "localhost"})),
		"ec2-instance-connect": must(eicapi.New(eicapi.Config{Store: st, AccountID: account, Region: region, Signer: signer})),
		"cloudtrail":           ctapi.New(st),
	}
}

// TestServedOperationsMatchServer: the CLI's table of served operations
// is the server's handler tables, service by service, sorted (served.Serves
// searches it).
func TestServedOperationsMatchServer(t *testing.T) {
	svcs := serverServices(t)
	if len(served.Operations) != len(svcs) {
		t.Errorf("served.Operations has %d services, the server %d", len(served.Operations), len(svcs))
	}
	for name, svc := range svcs {
		var want []string
		for action := range svc.Actions {
			want = append(want, action)
		}
		slices.Sort(want)
		got := served.Operations[name]
		if !slices.Equal(got, want) {
			t.Errorf("%s: served.Operations lists\n%v\nthe server serves\n%v", name, got, want)
		}
		for _, a := range want {
			if !served.Serves(name, a) {
				t.Errorf("%s: served.Serves(%q) is false", name, a)
			}
		}
	}
}

// handWritten are served actions the CLI offers under another name than
// kebab(action) in the action's service.
var handWritten = map[string][]string{
	"ListTunnels":     {"tunnels", "list"},
	"TerminateTunnel": {"tunnels", "terminate"},
}

// TestTreeOffersOnlyServedOperations: every served action has a command,
// and a service offers no SDK operation the server does not serve.
func TestTreeOffersOnlyServedOperations(t *testing.T) {
	root := fullTree(t)
	for _, svc := range awsServices() {
		cmd, _, err := root.Find([]string{svc.name})
		if err != nil || cmd.Name() != svc.name {
			t.Fatalf("service %s not in the tree", svc.name)
		}
		handMade := map[string]bool{}
		for _, c := range svc.commands {
			handMade[c(&Env{g: &globals{}}).Name()] = true
		}
		sdkOps := map[string]bool{}
		for _, op := range operations(svc.client(aws.Config{}, "")) {
			sdkOps[kebab(op.name)] = true
		}
		for _, c := range cmd.Commands() {
			if handMade[c.Name()] || c.Name() == "help" {
				continue
			}
			if !slices.ContainsFunc(served.Operations[svc.name], func(a string) bool { return kebab(a) == c.Name() }) {
				t.Errorf("%s %s: offered, but the server does not serve it", svc.name, c.Name())
			}
		}
		for _, action := range served.Operations[svc.name] {
			path := []string{svc.name, kebab(action)}
			if p, ok := handWritten[action]; ok {
				path = p
			}
			if c, _, err := root.Find(path); err != nil || c.Name() != path[len(path)-1] {
				t.Errorf("%s: served, but `postern %v` is not a command", action, path)
			}
		}
	}
	// describe-regions is an SDK operation the server does not serve.
	if c, _, _ := root.Find([]string{"ec2", "describe-regions"}); c != nil && c.Name() == "describe-regions" {
		t.Errorf("ec2 describe-regions is offered")
	}
}

// servedOps is served.Operations, for tests that name a variable served.
func servedOps() map[string][]string { return served.Operations }
