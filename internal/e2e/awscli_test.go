package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/testutil/awscli"
)

// TestAWSCLI drives the real AWS CLI (Debian's, see awscli.Find) against a
// server with nothing but the three environment variables: the CLI reads
// endpoint_url and ca_bundle from the config file the server wrote (a CLI
// older than endpoint_url in a profile gets --endpoint-url). Every call
// the installed version's model has runs; the ones it lacks skip by name.
func TestAWSCLI(t *testing.T) {
	aws := awscli.Find(t, cleanEnv())
	srv := startBareServer(t, filepath.Join(t.TempDir(), "data"))
	endpoint := aws.EndpointArgs(t, srv.url)
	run := func(extraEnv []string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(aws.Path, append(append([]string{}, endpoint...), args...)...)
		cmd.Env = append(append(cleanEnv(), srv.env()...), extraEnv...)
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
	out, errOut, code := run(nil, "sts", "get-caller-identity")
	if code != 0 {
		t.Fatalf("aws sts get-caller-identity: exit %d\n%s", code, errOut)
	}
	var ident struct{ Arn string }
	if err := json.Unmarshal([]byte(out), &ident); err != nil || !strings.HasSuffix(ident.Arn, ":user/admin") {
		t.Fatalf("identity %q: %v", out, err)
	}
	if _, errOut, code = run(nil, "iam", "create-user", "--user-name", "cli-user"); code != 0 {
		t.Fatalf("aws iam create-user: exit %d\n%s", code, errOut)
	}
	out, errOut, code = run(nil, "iam", "list-users")
	if code != 0 || !strings.Contains(out, `"UserName": "cli-user"`) {
		t.Fatalf("aws iam list-users: exit %d\n%s%s", code, out, errOut)
	}

	// Calls the CLI parses, and errors it must print with the code AWS
	// gives: the key the environment gives overrides the profile's.
	akid := iniSection(t, filepath.Join(srv.dataDir, "credentials"), "postern")["aws_access_key_id"]
	wrongSecret := []string{"AWS_ACCESS_KEY_ID=" + akid, "AWS_SECRET_ACCESS_KEY=wrong-wrong-wrong-wrong-wrong-wrong-0000"}
	unknownKey := []string{"AWS_ACCESS_KEY_ID=AKIAQE16UNKNOWNKEY00", "AWS_SECRET_ACCESS_KEY=wrong-wrong-wrong-wrong-wrong-wrong-0000"}
	for _, tc := range []struct {
		name    string
		env     []string
		args    []string
		want    string // in stdout; with wantErr, in stderr
		wantErr bool
	}{
		{name: "iam get-user unknown", args: []string{"iam", "get-user", "--user-name", "nobody"}, want: "NoSuchEntity", wantErr: true},
		{name: "sts wrong secret", env: wrongSecret, args: []string{"sts", "get-caller-identity"}, want: "SignatureDoesNotMatch", wantErr: true},
		{name: "iam wrong secret", env: wrongSecret, args: []string{"iam", "list-users"}, want: "SignatureDoesNotMatch", wantErr: true},
		{name: "ec2 wrong secret", env: wrongSecret, args: []string{"ec2", "describe-vpcs"}, want: "SignatureDoesNotMatch", wantErr: true},
		{name: "sts unknown key", env: unknownKey, args: []string{"sts", "get-caller-identity"}, want: "InvalidClientTokenId", wantErr: true},
		{name: "ec2 unknown key", env: unknownKey, args: []string{"ec2", "describe-vpcs"}, want: "AuthFailure", wantErr: true},
		{name: "ec2 describe-vpcs", args: []string{"ec2", "describe-vpcs"}, want: `"Vpcs"`},
		{name: "ec2 describe-instances", args: []string{"ec2", "describe-instances"}, want: `"Reservations"`},
		{name: "ec2 describe-instance-connect-endpoints", args: []string{"ec2", "describe-instance-connect-endpoints"}, want: `"InstanceConnectEndpoints"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aws.NeedOperation(t, tc.args[0], tc.args[1])
			out, errOut, code := run(tc.env, tc.args...)
			switch {
			case tc.wantErr && (code == 0 || !strings.Contains(errOut, tc.want)):
				t.Errorf("aws %s: exit %d, want an error with %s\n%s%s", strings.Join(tc.args, " "), code, tc.want, out, errOut)
			case !tc.wantErr && (code != 0 || !strings.Contains(out, tc.want)):
				t.Errorf("aws %s: exit %d, want output with %s\n%s%s", strings.Join(tc.args, " "), code, tc.want, out, errOut)
			}
		})
	}
}
