package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAWSCLI drives the real AWS CLI (when it is installed) against a
// server with nothing but the three environment variables: the CLI reads
// endpoint_url and ca_bundle from the config file the server wrote.
func TestAWSCLI(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI is not installed on this machine")
	}
	if out, err := exec.Command(awsBin, "--version").CombinedOutput(); err != nil {
		t.Skipf("the AWS CLI does not run here: %v %s", err, out)
	}
	srv := startBareServer(t, filepath.Join(t.TempDir(), "data"))
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(awsBin, args...)
		cmd.Env = append(cleanEnv(), srv.env()...)
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
	out, errOut, code := run("sts", "get-caller-identity")
	if code != 0 {
		t.Fatalf("aws sts get-caller-identity: exit %d\n%s", code, errOut)
	}
	var ident struct{ Arn string }
	if err := json.Unmarshal([]byte(out), &ident); err != nil || !strings.HasSuffix(ident.Arn, ":user/admin") {
		t.Fatalf("identity %q: %v", out, err)
	}
	if _, errOut, code = run("iam", "create-user", "--user-name", "cli-user"); code != 0 {
		t.Fatalf("aws iam create-user: exit %d\n%s", code, errOut)
	}
	out, errOut, code = run("iam", "list-users")
	if code != 0 || !strings.Contains(out, `"UserName": "cli-user"`) {
		t.Fatalf("aws iam list-users: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = run("iam", "get-user", "--user-name", "nobody")
	if code == 0 || !strings.Contains(errOut, "NoSuchEntity") {
		t.Fatalf("aws iam get-user nobody: exit %d\n%s", code, errOut)
	}
}
