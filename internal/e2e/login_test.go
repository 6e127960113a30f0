package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/postern/postern/internal/testutil/awscli"
	"github.com/postern/postern/internal/testutil/oidcop"
)

// TestLoginAWSCLI: a person with no IAM user runs the postern binary's
// `login --no-browser`, enters the code on the real OpenID provider's
// page and signs in; then the AWS CLI (when installed) and postern, with
// nothing but the profile, run as the assumed role through the profile's
// credential_process (the postern binary again); after `postern logout`
// both are refused and told to run postern login.
//
// It needs the server's IAM OIDC providers and AssumeRoleWithWebIdentity
// (issue 14, server side).
func TestLoginAWSCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := startServer(t, filepath.Join(t.TempDir(), "data"))
	admin, acct := srv.adminAccount(t)
	alice := oidcop.User{Subject: "sub-alice", Username: "alice", Password: "correct horse", Email: "alice@example.com"}
	op := oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{{ID: "postern-cli", Native: true, Device: true, RedirectURIs: []string{"http://127.0.0.1/callback"}}},
		Users:   []oidcop.User{alice},
	})

	// The operator: the provider, and a role its people may assume.
	iamc := iam.NewFromConfig(admin)
	prov, err := iamc.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url: aws.String(op.Issuer), ClientIDList: []string{"postern-cli"}, ThumbprintList: []string{op.Thumbprint}})
	if err != nil {
		t.Fatalf("CreateOpenIDConnectProvider: %v", err)
	}
	// The condition keys' prefix is the provider's name as its ARN gives it.
	_, host, _ := strings.Cut(*prov.OpenIDConnectProviderArn, ":oidc-provider/")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + *prov.OpenIDConnectProviderArn +
		`"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"` + host + `:aud":"postern-cli"}}}]}`
	mustDo(t, "CreateRole", func() error {
		_, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("developer"), AssumeRolePolicyDocument: aws.String(trust)})
		return err
	})
	role := "arn:aws:iam::" + acct + ":role/developer"

	// The person: a home of their own, a profile with the server's
	// endpoint and CA and no key at all.
	home := t.TempDir()
	cfgFile := filepath.Join(home, ".aws", "config")
	if err := os.MkdirAll(filepath.Dir(cfgFile), 0o700); err != nil {
		t.Fatal(err)
	}
	serverProfile := iniSection(t, filepath.Join(srv.dataDir, "config"), "profile postern")
	profile := "[profile person]\nendpoint_url = " + serverProfile["endpoint_url"] + "\nca_bundle = " + serverProfile["ca_bundle"] +
		"\nregion = " + serverProfile["region"] + "\n"
	if err := os.WriteFile(cfgFile, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(), "HOME="+home, "AWS_CONFIG_FILE="+cfgFile, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, ".aws", "credentials"),
		"AWS_PROFILE=person", "AWS_EC2_METADATA_DISABLED=true")
	run := func(bin string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), code
	}
	if out, errOut, code := run(binPath, "login", "--configure", "--issuer", op.Issuer, "--client-id", "postern-cli",
		"--role-arn", role, "--oidc-ca-bundle", op.CertPEMPath()); code != 0 {
		t.Fatalf("postern login --configure: %d %s %s", code, out, errOut)
	}

	// postern login --no-browser, the code entered on the provider's page.
	login := exec.CommandContext(ctx, binPath, "login", "--no-browser")
	login.Env = env
	var loginErr bytes.Buffer
	login.Stderr = &loginErr
	stdout, err := login.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var indented []string
	for len(indented) < 2 && sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "    ") {
			indented = append(indented, strings.TrimSpace(l))
		}
	}
	if len(indented) < 2 {
		_ = login.Wait()
		t.Fatalf("postern login printed no code: %s", loginErr.String())
	}
	op.DeviceApprove(t, indented[1], alice)
	go func() {
		for sc.Scan() {
		}
	}()
	if err := login.Wait(); err != nil {
		t.Fatalf("postern login --no-browser: %v: %s", err, loginErr.String())
	}

	wantArn := "arn:aws:sts::" + acct + ":assumed-role/developer/alice"
	// Each client: the program, then what it needs before the command
	// (Debian's AWS CLI, older than endpoint_url in a profile: the URL).
	clients := [][]string{{binPath}}
	if bin, err := awscli.Lookup(); err != nil {
		t.Logf("the AWS CLI is not installed: postern only")
	} else if aws, err := awscli.At(bin, cleanEnv()); err != nil {
		t.Errorf("the AWS CLI: %v", err)
	} else {
		clients = append(clients, append([]string{aws.Path}, aws.EndpointArgs(t, srv.url)...))
	}
	for _, c := range clients {
		out, errOut, code := run(c[0], append(append([]string{}, c[1:]...), "sts", "get-caller-identity")...)
		var ident struct{ Arn string }
		if code != 0 || json.Unmarshal([]byte(out), &ident) != nil || ident.Arn != wantArn {
			t.Errorf("%s sts get-caller-identity as the signed-in person: exit %d %q %s; want %s", filepath.Base(c[0]), code, out, errOut, wantArn)
		}
	}

	if out, _, code := run(binPath, "logout"); code != 0 || !strings.Contains(out, "Signed out") {
		t.Errorf("postern logout: %d %q", code, out)
	}
	for _, c := range clients {
		if _, errOut, code := run(c[0], append(append([]string{}, c[1:]...), "sts", "get-caller-identity")...); code == 0 || !strings.Contains(errOut, "postern login") {
			t.Errorf("%s after logout: exit %d %s; want a refusal saying to run postern login", filepath.Base(c[0]), code, errOut)
		}
	}
}

// iniSection reads one section of an INI file.
func iniSection(t *testing.T, path, section string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "[") {
			in = l == "["+section+"]"
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok && in {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}
