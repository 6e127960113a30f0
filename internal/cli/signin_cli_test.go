package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestIAMSignInOperations: `postern iam <op>` serves the login-profile,
// password-policy and virtual-MFA operations against a real server, with
// the AWS CLI's output shapes.
func TestIAMSignInOperations(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	ca := filepath.Join(e.Dir, "ca.pem")
	cliEnv(t, e.Admin)
	seedFile := filepath.Join(t.TempDir(), "seed.txt")
	run := func(args ...string) (int, string, string) {
		return runCLI(append([]string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", ca, "--output", "json"}, args...)...)
	}
	steps := []struct {
		args     []string
		code     int
		contains []string
	}{
		{[]string{"iam", "create-user", "--user-name", "alice"}, 0, []string{`"UserName": "alice"`}},
		{[]string{"iam", "create-login-profile", "--user-name", "alice", "--password", "Correct-Horse-9", "--password-reset-required"}, 0,
			[]string{`"LoginProfile"`, `"PasswordResetRequired": true`}},
		{[]string{"iam", "create-login-profile", "--user-name", "alice", "--password", "Correct-Horse-9"}, 254, []string{"EntityAlreadyExists"}},
		{[]string{"iam", "get-login-profile", "--user-name", "alice"}, 0, []string{`"UserName": "alice"`}},
		{[]string{"iam", "update-login-profile", "--user-name", "alice", "--no-password-reset-required"}, 0, nil},
		{[]string{"iam", "get-account-password-policy"}, 254, []string{"NoSuchEntity"}},
		{[]string{"iam", "update-account-password-policy", "--minimum-password-length", "20", "--require-symbols"}, 0, nil},
		{[]string{"iam", "get-account-password-policy"}, 0, []string{`"MinimumPasswordLength": 20`, `"RequireSymbols": true`}},
		{[]string{"iam", "update-login-profile", "--user-name", "alice", "--password", "short"}, 254, []string{"PasswordPolicyViolation"}},
		{[]string{"iam", "delete-account-password-policy"}, 0, nil},
		{[]string{"iam", "list-virtual-mfa-devices"}, 0, []string{`"VirtualMFADevices": []`}},
		{[]string{"iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "alice-phone"}, 252,
			[]string{"the following arguments are required: --outfile, --bootstrap-method"}},
		{[]string{"iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "alice-phone", "--outfile", seedFile,
			"--bootstrap-method", "Base32StringSeed"}, 0, []string{`"SerialNumber": "arn:aws:iam::`, `:mfa/alice-phone"`}},
		{[]string{"iam", "enable-mfa-device", "--user-name", "alice", "--serial-number", "SERIAL",
			"--authentication-code1", "000000", "--authentication-code2", "000000"}, 254, []string{"InvalidAuthenticationCode"}},
		{[]string{"iam", "list-mfa-devices", "--user-name", "alice"}, 0, []string{`"MFADevices": []`}},
		{[]string{"iam", "delete-user", "--user-name", "alice"}, 254, []string{"DeleteConflict", "login profile"}},
		{[]string{"iam", "delete-login-profile", "--user-name", "alice"}, 0, nil},
		{[]string{"iam", "delete-user", "--user-name", "alice"}, 0, nil},
	}
	serial := ""
	for _, s := range steps {
		for i, a := range s.args {
			if a == "SERIAL" {
				s.args[i] = serial
			}
		}
		code, out, stderr := run(s.args...)
		if s.args[1] == "create-virtual-mfa-device" && code == 0 {
			var v struct{ VirtualMFADevice struct{ SerialNumber string } }
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatal(err, out)
			}
			serial = v.VirtualMFADevice.SerialNumber
		}
		if code != s.code {
			t.Fatalf("%s: exit %d, want %d\n%s%s", strings.Join(s.args, " "), code, s.code, out, stderr)
		}
		for _, c := range s.contains {
			if !strings.Contains(out+stderr, c) {
				t.Fatalf("%s: output lacks %q:\n%s%s", strings.Join(s.args, " "), c, out, stderr)
			}
		}
	}
	// The trail records the calls, never the password.
	evs, err := e.Server.Store.ListEvents(t.Context(), store.EventQuery{EventName: "CreateLoginProfile"})
	if err != nil || len(evs) == 0 {
		t.Fatalf("CreateLoginProfile records: %d, %v", len(evs), err)
	}
	for _, ev := range evs {
		if strings.Contains(ev.Body, "Correct-Horse-9") || !strings.Contains(ev.Body, "HIDDEN_DUE_TO_SECURITY_REASONS") {
			t.Fatalf("CreateLoginProfile record does not hide the password: %s", ev.Body)
		}
	}
	// The secret went to the file (owner-only), not to the output.
	seed, err := os.ReadFile(seedFile)
	if err != nil || len(seed) != 64 || strings.Trim(string(seed), "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Fatalf("seed file %q: %v", seed, err)
	}
	if fi, err := os.Stat(seedFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("seed file mode: %v %v", fi.Mode(), err)
	}
	pngFile := filepath.Join(t.TempDir(), "qr.png")
	code, out, stderr := run("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "spare", "--outfile", pngFile, "--bootstrap-method", "QRCodePNG")
	if code != 0 || strings.Contains(out, "QRCodePNG") || strings.Contains(out, "Base32StringSeed") {
		t.Fatalf("exit %d, output shows a secret:\n%s%s", code, out, stderr)
	}
	png, err := os.ReadFile(pngFile)
	if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("QR code file is not a PNG: %v", err)
	}
}
