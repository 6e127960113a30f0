package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/totp"
	"github.com/postern/postern/internal/testutil/awscli"
)

// TestAWSCLISignInOperations drives the real AWS CLI (Debian's, see
// awscli.Find) through the console-password and virtual-MFA operations: its
// parsers accept Postern's answers, and its create-virtual-mfa-device
// customization writes the seed and the QR code it decodes from them.
func TestAWSCLISignInOperations(t *testing.T) {
	aws := awscli.Find(t, cleanEnv())
	srv := startBareServer(t, filepath.Join(t.TempDir(), "data"))
	endpoint := aws.EndpointArgs(t, srv.url)
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(aws.Path, append(append([]string{}, endpoint...), args...)...)
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
	ok := func(want string, args ...string) string {
		t.Helper()
		out, errOut, code := run(args...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("aws %s: exit %d, want output with %q\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out
	}
	fails := func(want string, args ...string) {
		t.Helper()
		out, errOut, code := run(args...)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("aws %s: exit %d, want an error with %q\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
	}
	dir := t.TempDir()
	ok(`"UserName": "carol"`, "iam", "create-user", "--user-name", "carol")
	fails("PasswordPolicyViolation", "iam", "create-login-profile", "--user-name", "carol", "--password", "short")
	ok(`"PasswordResetRequired": true`, "iam", "create-login-profile", "--user-name", "carol", "--password", "Correct-Horse-9", "--password-reset-required")
	ok(`"UserName": "carol"`, "iam", "get-login-profile", "--user-name", "carol")
	fails("NoSuchEntity", "iam", "get-account-password-policy")
	ok("", "iam", "update-account-password-policy", "--minimum-password-length", "14", "--require-numbers", "--max-password-age", "30")
	ok(`"MaxPasswordAge": 30`, "iam", "get-account-password-policy")

	seedFile, pngFile := filepath.Join(dir, "seed"), filepath.Join(dir, "qr.png")
	out := ok(`"SerialNumber"`, "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "carol-phone",
		"--outfile", seedFile, "--bootstrap-method", "Base32StringSeed")
	var created struct{ VirtualMFADevice struct{ SerialNumber string } }
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err, out)
	}
	serial := created.VirtualMFADevice.SerialNumber
	seed, err := os.ReadFile(seedFile)
	if err != nil || len(seed) != 64 {
		t.Fatalf("seed file %q: %v", seed, err)
	}
	ok(`"SerialNumber"`, "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "spare",
		"--outfile", pngFile, "--bootstrap-method", "QRCodePNG")
	if png, err := os.ReadFile(pngFile); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("QR code file is not a PNG: %v", err)
	}
	step := totp.Step(time.Now())
	code := func(s int64) string {
		c, err := totp.Code(string(seed), s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	fails("InvalidAuthenticationCode", "iam", "enable-mfa-device", "--user-name", "carol", "--serial-number", serial,
		"--authentication-code1", "000000", "--authentication-code2", "000000")
	ok("", "iam", "enable-mfa-device", "--user-name", "carol", "--serial-number", serial,
		"--authentication-code1", code(step-1), "--authentication-code2", code(step))
	ok(serial, "iam", "list-mfa-devices", "--user-name", "carol")
	ok(`"UserName": "carol"`, "iam", "list-virtual-mfa-devices", "--assignment-status", "Assigned")
	fails("DeleteConflict", "iam", "delete-user", "--user-name", "carol")
	ok("", "iam", "deactivate-mfa-device", "--user-name", "carol", "--serial-number", serial)
	ok("", "iam", "delete-virtual-mfa-device", "--serial-number", serial)
	ok("", "iam", "delete-login-profile", "--user-name", "carol")
	ok("", "iam", "delete-account-password-policy")
	ok("", "iam", "delete-user", "--user-name", "carol")
}
