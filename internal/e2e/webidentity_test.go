package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/oidcop"
)

// webIdentitySetup is a server that trusts a real OpenID provider, a role
// "ci" that the provider's user alice may assume, and a profile that
// names the role and a file holding alice's ID token: what a CI job has.
type webIdentitySetup struct {
	srv      *serverProc
	acct     string
	op       *oidcop.Provider
	provider string // the IAM OIDC provider's ARN
	cfgFile  string // the job's config file, profile "ci"
	token    string // the token file
	echoPort int
	env      []string // the job's environment for postern and node
}

var (
	ciAlice = oidcop.User{Subject: "sub-alice", Username: "alice", Password: "alice's password", Email: "alice@example.com",
		Claims: map[string]any{"https://aws.amazon.com/tags": map[string]any{"principal_tags": map[string]any{"username": []any{"alice"}}}}}
	ciBob = oidcop.User{Subject: "sub-bob", Username: "bob", Password: "bob's password"}
)

const ciClient = "postern-ci"

func newWebIdentitySetup(t *testing.T) *webIdentitySetup {
	t.Helper()
	ctx := context.Background()
	srv, echoPort := startServerWithEcho(t)
	s := &webIdentitySetup{srv: srv, echoPort: echoPort}
	admin, acct := s.srv.adminAccount(t)
	s.acct = acct
	s.op = oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{{ID: ciClient, Native: true, RedirectURIs: []string{"http://127.0.0.1/callback"}}},
		Users:   []oidcop.User{ciAlice, ciBob},
	})

	// The operator: the provider (trusted through its thumbprint), and a
	// role its job "alice" may assume, allowed to open tunnels and to
	// push a key for the OS user its principal tag names.
	// The provider with the CLI, as the README shows.
	var prov struct{ OpenIDConnectProviderArn string }
	s.srv.mustJSON(t, &prov, "iam", "create-open-id-connect-provider", "--url", s.op.Issuer,
		"--client-id-list", ciClient, "--thumbprint-list", s.op.Thumbprint)
	s.provider = prov.OpenIDConnectProviderArn
	iamc := iam.NewFromConfig(admin)
	_, host, _ := strings.Cut(s.provider, ":oidc-provider/")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + s.provider + `"},` +
		`"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],` +
		`"Condition":{"StringEquals":{"` + host + `:aud":"` + ciClient + `","` + host + `:sub":"sub-alice"}}}]}`
	perms := `{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["ec2:Describe*","ec2-instance-connect:OpenTunnel"],"Resource":"*"},
  {"Effect":"Allow","Action":"ec2-instance-connect:SendSSHPublicKey","Resource":"*",
   "Condition":{"StringEquals":{"ec2:osuser":"${aws:PrincipalTag/username}"}}}]}`
	mustDo(t, "CreateRole", func() error {
		_, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ci"), AssumeRolePolicyDocument: aws.String(trust)})
		return err
	})
	mustDo(t, "PutRolePolicy", func() error {
		_, err := iamc.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ci"), PolicyName: aws.String("tunnels"), PolicyDocument: aws.String(perms)})
		return err
	})

	// The job: a token file and a profile with nothing else.
	dir := t.TempDir()
	s.token = filepath.Join(dir, "token")
	writeFile(t, s.token, s.op.IDToken(t, ciClient, ciAlice))
	server := serverProfile(t, s.srv)
	s.cfgFile = filepath.Join(dir, "config")
	writeFile(t, s.cfgFile, "[profile ci]\nregion = "+server["region"]+"\nendpoint_url = "+server["endpoint_url"]+
		"\nca_bundle = "+server["ca_bundle"]+"\nrole_arn = arn:aws:iam::"+acct+":role/ci\nweb_identity_token_file = "+s.token+
		"\nrole_session_name = build-42\nservices = postern-sts\n"+
		// The SDKs' web-identity credential providers make their own STS
		// client, which takes a service-specific endpoint (a services
		// section, or AWS_ENDPOINT_URL_STS), not the profile's endpoint_url.
		"\n[services postern-sts]\nsts =\n  endpoint_url = "+server["endpoint_url"]+"\n")
	s.env = []string{"HOME=" + dir, "AWS_CONFIG_FILE=" + s.cfgFile, "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-credentials"),
		"AWS_PROFILE=ci", "AWS_EC2_METADATA_DISABLED=true"}
	return s
}

// sdkConfig loads the job's configuration with the SDK's default chain.
func (s *webIdentitySetup) sdkConfig(t *testing.T) aws.Config {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithSharedConfigFiles([]string{s.cfgFile}),
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(filepath.Dir(s.cfgFile), "no-credentials")}),
		awsconfig.WithSharedConfigProfile("ci"))
	if err != nil {
		t.Fatalf("load the job's config: %v", err)
	}
	return cfg
}

// run runs the postern binary with the job's environment.
func (s *webIdentitySetup) run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(cleanEnv(), s.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("postern %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// events returns the CloudTrail records of eventName.
func (s *webIdentitySetup) events(t *testing.T, eventName string) []map[string]any {
	t.Helper()
	admin := s.srv.adminConfig(t)
	out, err := cloudtrail.NewFromConfig(admin).LookupEvents(context.Background(), &cloudtrail.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String(eventName)}},
		MaxResults:       aws.Int32(50)})
	if err != nil {
		t.Fatalf("LookupEvents %s: %v", eventName, err)
	}
	var recs []map[string]any
	for _, e := range out.Events {
		var r map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(e.CloudTrailEvent)), &r); err != nil {
			t.Fatalf("record %s: %v", aws.ToString(e.CloudTrailEvent), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestWebIdentityTokenFile: a CI job with nothing but its provider's token
// in a file and a profile naming a role (role_arn +
// web_identity_token_file) works with the AWS SDK for Go v2's default
// credential chain, unchanged, and with postern: it asks who it is, opens
// a tunnel, and pushes a key for the OS user its token's session tag
// names (not another); every call and the tunnel are on record with the
// federated identity.
func TestWebIdentityTokenFile(t *testing.T) {
	ctx := context.Background()
	s := newWebIdentitySetup(t)
	wantARN := "arn:aws:sts::" + s.acct + ":assumed-role/ci/build-42"

	cfg := s.sdkConfig(t)
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the SDK's chain: %v\n%s", err, s.srv.output())
	}
	if aws.ToString(who.Arn) != wantARN {
		t.Fatalf("GetCallerIdentity = %s, want %s", aws.ToString(who.Arn), wantARN)
	}

	// The instance at 127.0.0.1 and its endpoint, as the job sees them.
	ec2c := ec2.NewFromConfig(cfg)
	inst, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	instanceID := ""
	for _, r := range inst.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.PrivateIpAddress) == "127.0.0.1" {
				instanceID = aws.ToString(in.InstanceId)
			}
		}
	}
	eps, err := ec2c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{})
	if err != nil || instanceID == "" || len(eps.InstanceConnectEndpoints) == 0 {
		t.Fatalf("instance %q, endpoints %+v, %v", instanceID, eps, err)
	}
	ep := eps.InstanceConnectEndpoints[0]

	t.Run("Go SDK tunnel", func(t *testing.T) {
		u, err := url.Parse(s.srv.url)
		if err != nil {
			t.Fatal(err)
		}
		pem, err := os.ReadFile(serverProfile(t, s.srv)["ca_bundle"])
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		d := &client.Dialer{Credentials: cfg.Credentials, Region: cfg.Region, TLS: &tls.Config{RootCAs: roots}, DialAddr: u.Host}
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		tun, err := d.Dial(dctx, client.Target{InstanceID: instanceID, EndpointID: aws.ToString(ep.InstanceConnectEndpointId),
			DNSName: aws.ToString(ep.DnsName), PrivateIP: "127.0.0.1", RemotePort: s.echoPort})
		if err != nil {
			t.Fatalf("open a tunnel with the SDK's credentials: %v\n%s", err, s.srv.output())
		}
		defer tun.Close()
		if _, err := tun.Write([]byte("through the tunnel\n")); err != nil {
			t.Fatal(err)
		}
		_ = tun.CloseWrite()
		_ = tun.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(tun)
		if string(got) != "through the tunnel\n" {
			t.Fatalf("echo %q (%v)", got, err)
		}
	})

	t.Run("postern", func(t *testing.T) {
		out, errOut, code := s.run(t, "", "sts", "get-caller-identity")
		var me struct{ Arn string }
		if code != 0 || json.Unmarshal([]byte(out), &me) != nil || me.Arn != wantARN {
			t.Fatalf("postern sts get-caller-identity: exit %d, %s%s", code, out, errOut)
		}
		out, errOut, code = s.run(t, "hello from postern\n", "ec2-instance-connect", "open-tunnel",
			"--instance-id", instanceID, "--remote-port", fmt.Sprint(s.echoPort))
		if code != 0 || out != "hello from postern\n" {
			t.Fatalf("postern open-tunnel: exit %d, stdout %q, stderr %q\n%s", code, out, errOut, s.srv.output())
		}
	})

	t.Run("session tag as OS user", func(t *testing.T) {
		eic := ec2instanceconnect.NewFromConfig(cfg)
		key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHu1mS5NKrpVAWbbDIDXsz8nNPm+K2PjFsh5TP6PpJQ4 ci"
		if _, err := eic.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(instanceID),
			InstanceOSUser: aws.String("alice"), SSHPublicKey: aws.String(key)}); err != nil {
			t.Fatalf("SendSSHPublicKey for alice (the token's username tag): %v", err)
		}
		_, err := eic.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(instanceID),
			InstanceOSUser: aws.String("root"), SSHPublicKey: aws.String(key)})
		if code := apiCode(err); code != "AccessDeniedException" {
			t.Fatalf("SendSSHPublicKey for root: %v, want AccessDeniedException", err)
		}
	})

	t.Run("refused token on record", func(t *testing.T) {
		// The SDK sends AssumeRoleWithWebIdentity unsigned.
		_, err := sts.NewFromConfig(cfg).AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String("arn:aws:iam::" + s.acct + ":role/ci"), RoleSessionName: aws.String("bob"),
			WebIdentityToken: aws.String(s.op.IDToken(t, ciClient, ciBob))})
		if code := apiCode(err); code != "AccessDenied" {
			t.Fatalf("bob's token: %v, want AccessDenied", err)
		}
		// A forged token: alice's claims, a signature that is not the
		// provider's.
		parts := strings.Split(readFileString(t, s.token), ".")
		forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		_, err = sts.NewFromConfig(cfg).AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String("arn:aws:iam::" + s.acct + ":role/ci"), RoleSessionName: aws.String("forged"), WebIdentityToken: aws.String(forged)})
		if code := apiCode(err); code != "InvalidIdentityToken" {
			t.Fatalf("forged token: %v, want InvalidIdentityToken", err)
		}
	})

	t.Run("records", func(t *testing.T) {
		var okAlice, deniedBob, forged bool
		for _, r := range s.events(t, "AssumeRoleWithWebIdentity") {
			u, _ := r["userIdentity"].(map[string]any)
			if r["errorCode"] == "InvalidIdentityToken" {
				// A token that did not verify names nobody.
				forged = forged || u["type"] == "Unknown"
				continue
			}
			if u["type"] != "WebIdentityUser" || u["identityProvider"] != s.provider {
				t.Errorf("AssumeRoleWithWebIdentity record's userIdentity %v", u)
				continue
			}
			switch {
			case u["userName"] == "sub-alice" && r["errorCode"] == nil && u["principalId"] == s.provider+":"+ciClient+":sub-alice":
				okAlice = true
			case u["userName"] == "sub-bob" && r["errorCode"] == "AccessDenied":
				deniedBob = true
			}
			if p, _ := r["requestParameters"].(map[string]any); p["WebIdentityToken"] != "HIDDEN_DUE_TO_SECURITY_REASONS" {
				t.Errorf("the token is not hidden in %v", p)
			}
		}
		if !okAlice || !deniedBob || !forged {
			t.Errorf("records: alice's assumption %v, bob's refusal %v, the forged token's refusal %v", okAlice, deniedBob, forged)
		}
		federated := func(r map[string]any) bool {
			u, _ := r["userIdentity"].(map[string]any)
			sc, _ := u["sessionContext"].(map[string]any)
			w, _ := sc["webIdFederationData"].(map[string]any)
			attrs, _ := w["attributes"].(map[string]any)
			_, host, _ := strings.Cut(s.provider, ":oidc-provider/")
			return u["type"] == "AssumedRole" && u["arn"] == wantARN && w["federatedProvider"] == s.provider && attrs[host+":sub"] == "sub-alice"
		}
		for _, name := range []string{"GetCallerIdentity", "OpenTunnel", "SendSSHPublicKey"} {
			recs := s.events(t, name)
			found := false
			for _, r := range recs {
				found = found || federated(r)
			}
			if !found {
				t.Errorf("no %s record names the federated identity: %v", name, recs)
			}
		}
	})
}

// serverProfile returns the settings of profile postern in the config
// file the server wrote (endpoint_url, ca_bundle, region).
func serverProfile(t *testing.T, srv *serverProc) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.dataDir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "[") {
			in = l == "[profile postern]"
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok && in {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// TestWebIdentityJSSDK: the AWS SDK for JavaScript v3's default credential
// chain, unchanged, with the same job profile (role_arn +
// web_identity_token_file): it assumes the role with the token and calls
// EC2 as the session, and the call is on record with the federated
// identity.
func TestWebIdentityJSSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; make test installs what the tests need")
	}
	jsDir, _ := filepath.Abs("../../tests/js")
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@aws-sdk", "credential-provider-web-identity")); err != nil {
		t.Fatalf("tests/js has no node_modules with the web identity provider (run `make test-deps`): %v", err)
	}
	s := newWebIdentitySetup(t)
	cmd := exec.Command(node, "webidentity.mjs")
	cmd.Dir = jsDir
	cmd.Env = append(cleanEnv(), s.env...)
	cmd.Env = append(cmd.Env, "NODE_EXTRA_CA_CERTS="+serverProfile(t, s.srv)["ca_bundle"])
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("node webidentity.mjs: %v\nstdout %s\nstderr %s\n%s", err, o.String(), e.String(), s.srv.output())
	}
	var res struct {
		AccessKeyPrefix string   `json:"accessKeyPrefix"`
		SessionToken    bool     `json:"sessionToken"`
		IPs             []string `json:"ips"`
	}
	if err := json.Unmarshal(o.Bytes(), &res); err != nil || res.AccessKeyPrefix != "ASIA" || !res.SessionToken || len(res.IPs) == 0 {
		t.Fatalf("JS SDK result %q (%v)", o.String(), err)
	}
	wantARN := "arn:aws:sts::" + s.acct + ":assumed-role/ci/build-42"
	found := false
	for _, r := range s.events(t, "DescribeInstances") {
		u, _ := r["userIdentity"].(map[string]any)
		sc, _ := u["sessionContext"].(map[string]any)
		w, _ := sc["webIdFederationData"].(map[string]any)
		ua, _ := r["userAgent"].(string)
		if u["arn"] == wantARN && w["federatedProvider"] == s.provider && strings.Contains(ua, "aws-sdk-js") {
			found = true
		}
	}
	if !found {
		t.Errorf("no DescribeInstances record of the JS SDK's federated session")
	}
}

// readFileString returns a file's content.
func readFileString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
