package keyauth_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/server/keyauth"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
	"github.com/postern/postern/internal/wire/agentkey"
	"github.com/postern/postern/internal/wire/keyservice"
)

// fixture is two VPCs, each with an instance and an endpoint; agent
// "mine" serves VPC 1, "other" VPC 2, "revoked" VPC 1 but was revoked.
type fixture struct {
	st     store.Store
	certs  map[string]tls.Certificate // by agent name; "stranger" is unknown
	inst   [3]string                  // instance ids of VPC 1 and 2
	vpc    [3]string
	ep     [3]string
	pushed string // the key pushed to inst[1] for ec2-user
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	st := sqlitetest.Open(t)
	now := time.Now().UTC().Truncate(time.Second)
	f := &fixture{st: st, certs: map[string]tls.Certificate{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for n := 1; n <= 2; n++ {
		f.vpc[n] = fmt.Sprintf("vpc-%017d", n)
		must(st.CreateVpc(ctx, store.Vpc{VpcID: f.vpc[n], CidrBlock: fmt.Sprintf("10.%d.0.0/16", n), State: "available", CreateDate: now}))
		sg := fmt.Sprintf("sg-%017d", n)
		must(st.CreateSecurityGroup(ctx, store.SecurityGroup{GroupID: sg, GroupName: "default", Description: "default VPC security group",
			VpcID: f.vpc[n], IsDefault: true, CreateDate: now}))
		sn := store.Subnet{SubnetID: fmt.Sprintf("subnet-%017d", n), VpcID: f.vpc[n], CidrBlock: fmt.Sprintf("10.%d.0.0/24", n),
			AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az1", State: "available", CreateDate: now}
		must(st.CreateSubnet(ctx, sn))
		f.inst[n] = fmt.Sprintf("i-%017d", n)
		must(st.CreateInstance(ctx, store.Instance{InstanceID: f.inst[n], SubnetID: sn.SubnetID, VpcID: f.vpc[n],
			PrivateIPAddress: fmt.Sprintf("10.%d.0.10", n), AvailabilityZone: "us-east-1a", State: "running", SecurityGroupIDs: []string{sg}, LaunchTime: now}))
		f.ep[n] = fmt.Sprintf("eice-%017d", n)
		must(st.CreateEndpoint(ctx, store.Endpoint{EndpointID: f.ep[n], ARN: "arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/" + f.ep[n],
			OwnerID: "123456789012", State: "create-complete", SubnetID: sn.SubnetID, VpcID: f.vpc[n], AvailabilityZone: "us-east-1a",
			AvailabilityZoneID: "use1-az1", IPAddressType: "ipv4", SecurityGroupIDs: []string{sg}, CreatedAt: now}))
	}
	agents := []struct {
		name    string
		vpc     int
		revoked bool
	}{{"mine", 1, false}, {"other", 2, false}, {"revoked", 1, true}, {"stranger", 0, false}}
	for i, a := range agents {
		cert, err := agent.NewKey(a.name, now)
		if err != nil {
			t.Fatal(err)
		}
		f.certs[a.name] = cert
		if a.vpc == 0 {
			continue // never joined
		}
		id := fmt.Sprintf("eni-%017d", i+1)
		must(st.CreateAgent(ctx, store.Agent{AgentID: id, EndpointID: f.ep[a.vpc], Name: a.name,
			KeyFingerprint: agentkey.KeyFingerprint(cert.Leaf), CreatedAt: now, CreatedBy: "arn:aws:iam::123456789012:user/ops"}))
		if a.revoked {
			must(st.RevokeAgent(ctx, id, now))
		}
	}
	f.pushed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ2mAfUyW4IqMVPcZ4Hj0qN/4pS7w1cEbYwzWm3aVtPq test"
	must(st.PutPushedKey(ctx, store.PushedKey{KeyID: "req-1", InstanceID: f.inst[1], OSUser: "ec2-user", PublicKey: f.pushed,
		CallerARN: "arn:aws:iam::123456789012:user/alice", RequestID: "req-1", CreatedAt: now, ExpiresAt: now.Add(time.Minute), Signature: []byte("sig")}))
	must(st.PutPushedKey(ctx, store.PushedKey{KeyID: "req-0", InstanceID: f.inst[1], OSUser: "ec2-user", PublicKey: "ssh-ed25519 AAAA expired",
		CallerARN: "arn:aws:iam::123456789012:user/alice", RequestID: "req-0", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute), Signature: []byte("sig")}))
	return f
}

// serve starts the key service over TLS, asking clients for a
// certificate as the server's listener asks agents.
func (f *fixture) serve(t *testing.T, local keyauth.Local) *httptest.Server {
	t.Helper()
	h := keyservice.Handler(keyauth.Source(f.st), keyauth.NewAuthorizer(f.st, local).Authorize, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	mux.Handle(keyservice.Pattern, h)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestAuthorize: an agent reads the keys of its own VPC's instances only;
// a revoked or unknown agent reads none; without a certificate only this
// host reads, and only those of the local network.
func TestAuthorize(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		local    bool   // this host serves VPC 1 as its local network
		cert     string // agent whose certificate the client presents; "" none
		instance int    // 1, 2; 0 for an unknown instance
		status   int
		body     string // a piece of the answer
	}{
		{name: "agent of the instance's VPC", cert: "mine", instance: 1, status: http.StatusOK, body: f.pushed},
		{name: "agent of another VPC", cert: "other", instance: 1, status: http.StatusForbidden, body: "the instance is not in the agent's VPC"},
		{name: "agent for its own other instance", cert: "other", instance: 2, status: http.StatusOK, body: `"entries":[]`},
		{name: "revoked agent", cert: "revoked", instance: 1, status: http.StatusForbidden, body: "not a known, unrevoked agent"},
		{name: "unknown agent", cert: "stranger", instance: 1, status: http.StatusForbidden, body: "not a known, unrevoked agent"},
		{name: "unknown instance", cert: "mine", instance: 0, status: http.StatusForbidden, body: "unknown instance i-00000000000000009"},
		{name: "this host, local network", local: true, instance: 1, status: http.StatusOK, body: f.pushed},
		{name: "this host, another VPC", local: true, instance: 2, status: http.StatusForbidden, body: "only endpoint agents"},
		{name: "this host, no local network", instance: 1, status: http.StatusForbidden, body: "only endpoint agents"},
	}
	srvs := map[bool]*httptest.Server{
		false: f.serve(t, keyauth.Local{}),
		true:  f.serve(t, keyauth.Local{EndpointID: f.ep[1], VpcID: f.vpc[1]}),
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := srvs[tc.local]
			tr := srv.Client().Transport.(*http.Transport).Clone()
			if tc.cert != "" {
				tr.TLSClientConfig.Certificates = []tls.Certificate{f.certs[tc.cert]}
			}
			t.Cleanup(tr.CloseIdleConnections)
			inst := "i-00000000000000009"
			if tc.instance != 0 {
				inst = f.inst[tc.instance]
			}
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(srv.URL + keyservice.Path(inst, "ec2-user"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
				t.Errorf("got %d %q, want %d with %q", resp.StatusCode, body, tc.status, tc.body)
			}
			if strings.Contains(string(body), "expired") {
				t.Errorf("an expired key was served: %s", body)
			}
		})
	}
}

// TestAuthorizeOnlyLoopbackHosts: without a certificate, a request from
// anywhere but this host is refused even for the local network.
func TestAuthorizeOnlyLoopbackHosts(t *testing.T) {
	f := newFixture(t)
	a := keyauth.NewAuthorizer(f.st, keyauth.Local{EndpointID: f.ep[1], VpcID: f.vpc[1]})
	tests := []struct {
		remote string
		ok     bool
	}{
		{"127.0.0.1:40000", true},
		{"[::1]:40000", true},
		{"[::ffff:127.0.0.1]:40000", true},
		{"192.0.2.10:40000", false},
		{"[2001:db8::1]:40000", false},
		{"not an address", false},
	}
	for _, tc := range tests {
		t.Run(tc.remote, func(t *testing.T) {
			r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, keyservice.Path(f.inst[1], "ec2-user"), nil)
			r.RemoteAddr = tc.remote
			if err := a.Authorize(r, f.inst[1]); (err == nil) != tc.ok {
				t.Errorf("Authorize from %s: %v, want allowed %v", tc.remote, err, tc.ok)
			}
		})
	}
}
