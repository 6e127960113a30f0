package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/testutil/awscli"
)

// TestUnknownProfileExitsAsTheAWSCLI: a profile that is in neither shared
// file ends the command as the real AWS CLI ends it: exit 255 (botocore's
// ProfileNotFound is none of the configuration errors the CLI maps to 253)
// with "The config profile (NAME) could not be found" on stderr. Postern
// exited 253.
func TestUnknownProfileExitsAsTheAWSCLI(t *testing.T) {
	aws := awscli.Find(t, cleanEnv())
	srv := startBareServer(t, filepath.Join(t.TempDir(), "data"))
	run := func(path string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(path, args...)
		cmd.Env = append(append(cleanEnv(), srv.env()...), "AWS_PROFILE=nosuch")
		var e bytes.Buffer
		cmd.Stderr = &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return e.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return e.String(), 0
	}
	awsErr, awsCode := run(aws.Path, append(aws.EndpointArgs(t, srv.url), "sts", "get-caller-identity")...)
	posternErr, posternCode := run(binPath, "sts", "get-caller-identity")
	const want = "\nThe config profile (nosuch) could not be found"
	if !strings.HasPrefix(awsErr, want) {
		t.Fatalf("the AWS CLI: exit %d, stderr %q: not the case this test compares", awsCode, awsErr)
	}
	if posternCode != awsCode || !strings.HasPrefix(posternErr, want) {
		t.Fatalf("postern: exit %d, stderr %q; the AWS CLI: exit %d, stderr %q", posternCode, posternErr, awsCode, awsErr)
	}
}
