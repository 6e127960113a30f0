package cli_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/client/login"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/oidcop"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

var loginAlice = oidcop.User{Subject: "sub-alice", Username: "alice", Password: "correct horse", Email: "alice@example.com"}

const loginClientID = "postern-cli"

func startLoginOP(t *testing.T) *oidcop.Provider {
	t.Helper()
	return oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{{ID: loginClientID, Native: true, Device: true, RedirectURIs: []string{"http://127.0.0.1/callback"}}},
		Users:   []oidcop.User{loginAlice},
	})
}

// profileSettings reads the [profile NAME] section of the config file.
func profileSettings(t *testing.T, dir, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "[") {
			in = l == "[profile "+name+"]"
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok && in {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// TestLoginCredentialProcess: `postern login --configure` writes the
// profile (the provider, the role, credential_process; no role_arn, which
// AWS tools would assume again); `postern login --credential-process`
// prints the cached sign-in as the credential_process JSON that the AWS
// SDK for Go v2 reads (its processcreds provider, and its whole chain
// for the profile); without a valid sign-in it fails, saying to run
// postern login, and prints nothing on stdout; `postern logout` removes
// the cache file.
func TestLoginCredentialProcess(t *testing.T) {
	dir := cliEnv(t, aws.Credentials{})
	t.Setenv(asPostern, "1")
	op := startLoginOP(t)
	role := "arn:aws:iam::123456789012:role/dev"
	if code, out, errOut := runCLI("login", "--configure", "--profile", "dev", "--issuer", op.Issuer, "--client-id", loginClientID,
		"--role-arn", role, "--oidc-ca-bundle", op.CertPEMPath(), "--region", "us-east-1"); code != 0 {
		t.Fatalf("login --configure: %d %s %s", code, out, errOut)
	}
	s := profileSettings(t, dir, "dev")
	if s["postern_oidc_issuer"] != op.Issuer || s["postern_oidc_client_id"] != loginClientID || s["postern_role_arn"] != role || s["postern_oidc_ca_bundle"] != op.CertPEMPath() {
		t.Errorf("profile settings %v", s)
	}
	proc := s["credential_process"]
	if !strings.HasSuffix(proc, " login --credential-process --profile dev") {
		t.Fatalf("credential_process = %q", proc)
	}
	if _, ok := s["role_arn"]; ok {
		t.Errorf("the profile has role_arn: AWS tools would assume it again with the signed-in credentials")
	}
	// The region for the SDK's chain below.
	if code, _, errOut := runCLI("configure", "set", "region", "us-east-1", "--profile", "dev"); code != 0 {
		t.Fatal(errOut)
	}

	mustFail := func(why string) {
		t.Helper()
		code, out, errOut := runCLI("login", "--credential-process", "--profile", "dev")
		if code != cli.ExitConfig || out != "" || !strings.Contains(errOut, `Run "postern login --profile dev"`) {
			t.Errorf("%s: credential-process = %d, stdout %q, stderr %q; want exit %d, nothing on stdout, and the command to run", why, code, out, errOut, cli.ExitConfig)
		}
		if _, err := processcreds.NewProvider(proc).Retrieve(context.Background()); err == nil {
			t.Errorf("%s: processcreds got credentials", why)
		}
	}
	mustFail("not signed in")

	// A sign-in as postern login caches it.
	cache := login.Cache{Dir: filepath.Join(dir, ".postern", "login")}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	entry := login.Entry{Issuer: op.Issuer, ClientID: loginClientID, RoleARN: role, Subject: loginAlice.Subject,
		AccessKeyID: "ASIAEXAMPLEEXAMPLE01", SecretAccessKey: "secret/key", SessionToken: "session-token", Expiration: exp}
	if err := cache.Save("dev", entry); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	creds, err := processcreds.NewProvider(proc).Retrieve(ctx)
	if err != nil {
		t.Fatalf("processcreds: %v", err)
	}
	if creds.AccessKeyID != entry.AccessKeyID || creds.SecretAccessKey != entry.SecretAccessKey || creds.SessionToken != entry.SessionToken ||
		!creds.CanExpire || !creds.Expires.Equal(exp) {
		t.Errorf("processcreds read %+v, want the cached %+v", creds, entry)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithSharedConfigProfile("dev"))
	if err != nil {
		t.Fatal(err)
	}
	if creds, err := cfg.Credentials.Retrieve(ctx); err != nil || creds.AccessKeyID != entry.AccessKeyID {
		t.Errorf("the SDK's chain for the profile: %+v, %v", creds, err)
	}

	// Expired, and no refresh token: sign in again.
	entry.Expiration = time.Now().Add(-time.Minute).UTC()
	if err := cache.Save("dev", entry); err != nil {
		t.Fatal(err)
	}
	mustFail("expired")

	if code, out, _ := runCLI("logout", "--profile", "dev"); code != 0 || !strings.Contains(out, "Signed out") {
		t.Errorf("logout: %d %q", code, out)
	}
	if _, err := os.Stat(cache.Path("dev")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache file after logout: %v", err)
	}
	if code, out, _ := runCLI("logout", "--profile", "dev"); code != 0 || !strings.Contains(out, "not signed in") {
		t.Errorf("second logout: %d %q", code, out)
	}
	mustFail("signed out")
}

// TestLoginEndToEnd: a person runs `postern login --no-browser`, enters
// the code on the real provider's page and signs in; Postern's STS
// AssumeRoleWithWebIdentity gives the role's credentials, cached 0600;
// `postern sts get-caller-identity` runs as the assumed role through
// the profile's credential_process, and a tunnel opens with the same
// credentials; credentials near expiry are renewed with the refresh
// token; logout forgets them.
//
// It needs the server's IAM OIDC providers and AssumeRoleWithWebIdentity
// (issue 14, server side).
func TestLoginEndToEnd(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	dir := cliEnv(t, aws.Credentials{})
	t.Setenv(asPostern, "1")
	op := startLoginOP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The operator's side: the provider and a role people of it assume.
	admin := e.AWS(e.Admin)
	me, err := sts.NewFromConfig(admin).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	iamc := iam.NewFromConfig(admin)
	prov, err := iamc.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url: aws.String(op.Issuer), ClientIDList: []string{loginClientID}, ThumbprintList: []string{op.Thumbprint}})
	if err != nil {
		t.Fatalf("CreateOpenIDConnectProvider: %v", err)
	}
	// The condition keys' prefix is the provider's name as its ARN gives it.
	_, host, _ := strings.Cut(*prov.OpenIDConnectProviderArn, ":oidc-provider/")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + *prov.OpenIDConnectProviderArn + `"},
	  "Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"` + host + `:aud":"` + loginClientID + `","` + host + `:sub":"` + loginAlice.Subject + `"}}}]}`
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("developer"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := iamc.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("developer"), PolicyName: aws.String("tunnel"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2-instance-connect:OpenTunnel","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	role := "arn:aws:iam::" + *me.Account + ":role/developer"

	// The person's side: the profile, then postern login.
	for _, kv := range [][2]string{{"endpoint_url", e.URL}, {"ca_bundle", filepath.Join(e.Dir, "ca.pem")}, {"region", e.Region}} {
		if code, _, errOut := runCLI("configure", "set", kv[0], kv[1], "--profile", "dev"); code != 0 {
			t.Fatal(errOut)
		}
	}
	if code, out, errOut := runCLI("login", "--configure", "--profile", "dev", "--issuer", op.Issuer, "--client-id", loginClientID,
		"--role-arn", role, "--oidc-ca-bundle", op.CertPEMPath()); code != 0 {
		t.Fatalf("login --configure: %d %s %s", code, out, errOut)
	}
	if code, _, stderr := deviceLogin(ctx, t, op, "dev", ""); code != 0 {
		t.Fatalf("postern login --no-browser: exit %d: %s", code, stderr)
	}

	cache := login.Cache{Dir: filepath.Join(dir, ".postern", "login")}
	fi, err := os.Stat(cache.Path("dev"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v, %v", fi, err)
	}
	first, err := cache.Load("dev")
	if err != nil || first.RoleARN != role || first.RefreshToken == "" {
		t.Fatalf("cached sign-in %+v, %v", first, err)
	}

	// AWS-CLI syntax, through credential_process.
	c, out, errOut := runCLI("sts", "get-caller-identity", "--profile", "dev", "--query", "Arn", "--output", "text")
	if want := "arn:aws:sts::" + *me.Account + ":assumed-role/developer/alice"; c != 0 || strings.TrimSpace(out) != want {
		t.Errorf("get-caller-identity as the signed-in person: %d %q %s, want %s", c, out, errOut, want)
	}

	// A tunnel with the credentials the profile's credential_process
	// hands out.
	proc := profileSettings(t, dir, "dev")["credential_process"]
	creds, err := processcreds.NewProvider(proc).Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	echo := tunneltest.Echo(t)
	tun, err := e.Dialer(creds).Dial(ctx, e.Local(echo.Port))
	if err != nil {
		t.Fatalf("tunnel as the signed-in person: %v", err)
	}
	if _, err := tun.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(tun, buf); err != nil || string(buf) != "ping" {
		t.Errorf("echo through the tunnel: %q %v", buf, err)
	}
	tun.Close()

	// The browser sign-in into the same role, then renewal before expiry:
	// with a window longer than the session, the refresh token gets a new
	// ID token and a new role session. (The test provider's device-flow
	// refresh tokens are not refreshable: zitadel's example storage
	// records no client for them.)
	sess := &login.Session{Profile: "dev", Cache: cache, Roles: []string{role},
		Provider:    login.ProviderConfig{Issuer: op.Issuer, ClientID: loginClientID, HTTPClient: op.HTTPClient()},
		STS:         sts.NewFromConfig(e.AWS(aws.Credentials{})),
		RenewFailed: func(err error) { t.Errorf("renewal failed: %v", err) }}
	first, err = sess.Login(ctx, login.LoginOptions{Method: login.Browser, Open: func(authURL string) error {
		op.SignIn(t, authURL, loginAlice)
		return nil
	}})
	if err != nil || first.RefreshToken == "" || first.RoleARN != role {
		t.Fatalf("browser sign-in: %+v, %v", first, err)
	}
	sess.RefreshWindow = 24 * time.Hour
	renewed, err := sess.Credentials(ctx)
	if err != nil {
		t.Fatalf("renewal with the refresh token: %v", err)
	}
	if renewed.AccessKeyID == first.AccessKeyID || renewed.RoleARN != role {
		t.Errorf("renewed %+v, first %+v: want a new session of the same role", renewed, first)
	}
	if again, _ := cache.Load("dev"); again.AccessKeyID != renewed.AccessKeyID {
		t.Errorf("the cache holds %s, not the renewed %s", again.AccessKeyID, renewed.AccessKeyID)
	}

	if c, out, _ := runCLI("logout", "--profile", "dev"); c != 0 || !strings.Contains(out, "Signed out") {
		t.Errorf("logout: %d %q", c, out)
	}
	if _, err := os.Stat(cache.Path("dev")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache after logout: %v", err)
	}
	// (credential_process's own message, "Run postern login", goes to the
	// terminal: the process's stderr is the caller's.)
	if c, out, errOut := runCLI("sts", "get-caller-identity", "--profile", "dev"); c == 0 || !strings.Contains(errOut, "credential_process") {
		t.Errorf("after logout get-caller-identity = %d %q %q; want a credential_process failure", c, out, errOut)
	}
}

// TestLoginRefusedWritesNothing: `postern login` offers the profile's
// roles and takes the person's pick; when Postern's STS does not give
// that role (here one that does not exist), it fails after the person
// signed in, says which role, and caches nothing.
func TestLoginRefusedWritesNothing(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	dir := cliEnv(t, aws.Credentials{})
	op := startLoginOP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	role, other := "arn:aws:iam::123456789012:role/nobody", "arn:aws:iam::123456789012:role/first"
	for _, kv := range [][2]string{{"endpoint_url", e.URL}, {"ca_bundle", filepath.Join(e.Dir, "ca.pem")}, {"region", e.Region}} {
		if code, _, errOut := runCLI("configure", "set", kv[0], kv[1], "--profile", "dev"); code != 0 {
			t.Fatal(errOut)
		}
	}
	if code, out, errOut := runCLI("login", "--configure", "--profile", "dev", "--issuer", op.Issuer, "--client-id", loginClientID,
		"--role-arn", other+","+role, "--oidc-ca-bundle", op.CertPEMPath()); code != 0 {
		t.Fatalf("login --configure: %d %s %s", code, out, errOut)
	}
	code, stdout, stderr := deviceLogin(ctx, t, op, "dev", "2\n")
	if code == 0 || !strings.Contains(stderr, "assume the role "+role) {
		t.Errorf("postern login into a role STS refuses: exit %d, %q", code, stderr)
	}
	if !strings.Contains(stdout, "  1) "+other+"\n  2) "+role+"\n") {
		t.Errorf("postern login did not offer the profile's roles: %q", stdout)
	}
	if _, err := os.Stat(login.Cache{Dir: filepath.Join(dir, ".postern", "login")}.Path("dev")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cache file after a refused login: %v", err)
	}
}

// deviceLogin runs `postern login --no-browser --profile PROFILE`, reads
// the user code it prints as a person would, approves it on the
// provider's page as loginAlice, and returns the exit code and stderr.
func deviceLogin(ctx context.Context, t *testing.T, op *oidcop.Provider, profile, stdin string) (code int, stdout, stderr string) {
	t.Helper()
	pr, pw := io.Pipe()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		var errb strings.Builder
		code := cli.Main(ctx, []string{"login", "--no-browser", "--profile", profile}, strings.NewReader(stdin), pw, &errb)
		pw.Close()
		done <- result{code, errb.String()}
	}()
	userCode := make(chan string, 1)
	var printed strings.Builder
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pr)
		var indented []string
		for sc.Scan() {
			printed.WriteString(sc.Text() + "\n")
			if l := sc.Text(); strings.HasPrefix(l, "    ") && len(indented) < 2 {
				if indented = append(indented, strings.TrimSpace(l)); len(indented) == 2 {
					userCode <- indented[1]
				}
			}
		}
		close(userCode)
	}()
	uc, ok := <-userCode
	if !ok {
		r := <-done
		t.Fatalf("postern login printed no code: exit %d, %s", r.code, r.stderr)
	}
	op.DeviceApprove(t, uc, loginAlice)
	r := <-done
	<-readDone
	return r.code, printed.String(), r.stderr
}
