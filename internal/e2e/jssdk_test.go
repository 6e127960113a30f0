package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSSDK runs tests/js/ec2.mjs — the AWS SDK for JavaScript v3 EC2
// client, installed from npm by the test command (make test-deps) —
// against a real server process.
func TestJSSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; make test installs what the tests need")
	}
	jsDir, _ := filepath.Abs("../../tests/js")
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@aws-sdk", "client-ec2")); err != nil {
		t.Fatalf("tests/js has no node_modules (run `make test-deps`): %v", err)
	}
	srv := startBareServer(t, filepath.Join(t.TempDir(), "data"))
	creds, err := os.ReadFile(filepath.Join(srv.dataDir, "credentials"))
	if err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(), "NODE_EXTRA_CA_CERTS="+filepath.Join(srv.dataDir, "ca.pem"), "POSTERN_ENDPOINT="+srv.url, "AWS_REGION=us-east-1")
	for _, line := range strings.Split(string(creds), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			env = append(env, "AWS_ACCESS_KEY_ID="+strings.TrimSpace(v))
		case "aws_secret_access_key":
			env = append(env, "AWS_SECRET_ACCESS_KEY="+strings.TrimSpace(v))
		}
	}
	cmd := exec.Command(node, "ec2.mjs")
	cmd.Dir = jsDir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("JS SDK scenario failed: %v", err)
	}
	if !strings.Contains(string(out), "js-sdk: 9 passed, 0 failed") {
		t.Fatalf("unexpected JS SDK result")
	}
}
