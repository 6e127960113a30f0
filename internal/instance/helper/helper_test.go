package helper_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/instance/helper"
	"github.com/postern/postern/internal/testutil/refused"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/sshkeys"
)

func key(t *testing.T) string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	pk, _ := ssh.NewPublicKey(pub)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
}

// run runs the AuthorizedKeysCommand with a config and returns its output.
func run(t *testing.T, cfg helper.Config, user string) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "instance.json")
	if err := helper.Save(path, cfg); err != nil {
		t.Fatal(err)
	}
	var out, log bytes.Buffer
	err := helper.Run(context.Background(), path, user, "", &out, &log)
	return out.String(), err
}

// The helper trusts signatures, not the service: a service that alters an
// entry gets nothing printed; an unreachable one neither.
func TestFailsClosed(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	good, _ := sshkeys.Sign(priv, sshkeys.Entry{InstanceID: "i-0123456789abcdef0", User: "ec2-user",
		Expires: time.Now().Add(time.Minute).Unix(), Key: key(t), Caller: "arn:aws:iam::1:user/a", RequestID: "r1"})
	tampered := good
	tampered.Key = key(t) // another key under the same signature
	var serve []sshkeys.Entry
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(sshkeys.Response{Entries: serve})
	}))
	defer srv.Close()
	cfg := helper.Config{InstanceID: "i-0123456789abcdef0", KeysURL: srv.URL, SignerKey: sshkeys.FormatSigner(pub)}

	serve = []sshkeys.Entry{good}
	if out, err := run(t, cfg, "ec2-user"); err != nil || strings.TrimSpace(out) != good.Key {
		t.Fatalf("a good entry: %q %v", out, err)
	}
	serve = []sshkeys.Entry{tampered}
	if out, err := run(t, cfg, "ec2-user"); err != nil || out != "" {
		t.Fatalf("a tampered entry was printed: %q %v", out, err)
	}
	serve = []sshkeys.Entry{good}
	if out, _ := run(t, cfg, "root"); out != "" {
		t.Fatalf("another user's key was printed: %q", out)
	}
	other := cfg
	other.InstanceID = "i-1111111111111111f"
	if out, _ := run(t, other, "ec2-user"); out != "" {
		t.Fatalf("another instance's key was printed: %q", out)
	}
	// Nothing listens: the helper prints nothing and fails. The port is
	// held bound (never listening) by the test, so nothing else takes it.
	addr := refused.Addr(t)
	gone := cfg
	gone.KeysURL = "https://" + addr
	if out, err := run(t, gone, "ec2-user"); err == nil || out != "" {
		t.Fatalf("unreachable key service: %q %v", out, err)
	}
	// A service that answers garbage.
	bad := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }))
	defer bad.Close()
	garbage := cfg
	garbage.KeysURL = bad.URL
	if out, err := run(t, garbage, "ec2-user"); err == nil || out != "" {
		t.Fatalf("garbage answer: %q %v", out, err)
	}
	if err := helper.Save(filepath.Join(t.TempDir(), "x.json"), helper.Config{InstanceID: "bad", KeysURL: "http://x", SignerKey: "x"}); err == nil {
		t.Fatal("an invalid config was saved")
	}
}

// A key pushed to an instance of a private network reaches the helper
// through the agent's key service; the agent reads only its own VPC's
// instances.
func TestKeysThroughAgent(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	vpc, subnet, ep, _ := e.Network("10.30.0.0/16", "10.30.1.0/24")
	_ = vpc
	out, err := e.Call(e.Admin, "RegisterInstance", map[string]string{"SubnetId": subnet, "PrivateIpAddress": "10.30.1.10"})
	if err != nil {
		t.Fatal(err)
	}
	inst := between(out, "<instanceId>", "</instanceId>")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := e.StartAgent(ep, agent.Config{KeysListener: ln})
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	line := key(t)
	c := ec2instanceconnect.NewFromConfig(e.AWS(e.Admin))
	if _, err := c.SendSSHPublicKey(context.Background(), &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(inst),
		InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(line)}); err != nil {
		t.Fatal(err)
	}
	cfg := helper.Config{InstanceID: inst, KeysURL: "https://" + ln.Addr().String(), SignerKey: e.Server.SignerPublicKey()}
	if got, err := run(t, cfg, "ec2-user"); err != nil || strings.TrimSpace(got) != line {
		t.Fatalf("through the agent: %q %v", got, err)
	}
	// The local network's instance is not in this agent's VPC.
	local := cfg
	local.InstanceID = e.Server.Local.InstanceID
	if got, err := run(t, local, "ec2-user"); err == nil || got != "" {
		t.Fatalf("the agent served another VPC's instance: %q %v", got, err)
	}
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}

func TestSSHDConfig(t *testing.T) {
	got := helper.SSHDConfig("/usr/local/bin/postern", helper.DefaultConfigPath, "nobody")
	want := "AuthorizedKeysCommand /usr/local/bin/postern authorized-keys -- %u %f\nAuthorizedKeysCommandUser nobody\n"
	if got != want {
		t.Fatalf("%q", got)
	}
	// sshd's tokens follow "--" with a config path too: a user name that
	// starts with "-" is data (internal/e2e TestHelperArgumentsAreData runs
	// this line in a real sshd).
	got = helper.SSHDConfig("/usr/local/bin/postern", "/etc/x.json", "nobody")
	if !strings.Contains(got, "authorized-keys --config /etc/x.json -- %u %f\n") {
		t.Fatalf("%q", got)
	}
}
