//go:build !postern_client

package cli_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTC20ConfigureListAsAWSCLI: `configure list` prints the rows of
// /usr/bin/aws (AWS CLI v2 2.9.19) byte for byte, its errors and exit
// status too, with values from the environment, either file, --profile
// and --region; Postern's endpoint row follows them. Before, postern
// named the keys' file or variable as their Location (the AWS CLI, which
// finds them through the credential chain, gives none), called keys in
// the config file "shared-credentials-file", ignored AWS_DEFAULT_REGION
// and AWS_DEFAULT_PROFILE, named the config file by its full path where
// the AWS CLI says ~/.aws/config, an environment variable where it gives
// the list of those it reads, showed --region as "manual" (the AWS CLI
// shows the file's region, else --region's as "imds"), masked a short
// key as 16 stars alone (and a non-ASCII one by bytes), listed a missing
// profile or a key without its secret where the AWS CLI fails, and did
// not run a profile's credential_process (the AWS CLI shows its key as
// "custom-process", after the credentials file's, before the config
// file's).
func TestTC20ConfigureListAsAWSCLI(t *testing.T) {
	if out, err := exec.Command(awsBin, "--version").CombinedOutput(); err != nil {
		t.Skipf("%s: %v: %s", awsBin, err, bytes.TrimSpace(out))
	}
	const config = `[default]
region = eu-west-1
[profile p2]
region = us-west-2
aws_access_key_id = AKIACONFIGFILE1234
aws_secret_access_key = secretconfig9876
[profile part]
aws_access_key_id = AKIAPART
[profile onlycfg]
output = json
[profile proc]
credential_process = HOME/proc
[profile procover]
aws_access_key_id = AKIACONFIGOVER
aws_secret_access_key = configover0000
credential_process = HOME/proc
[profile p3]
credential_process = HOME/proc
`
	const credentials = `[default]
aws_access_key_id = AKIACREDFILE5678
aws_secret_access_key = secretcred4321
[p2]
region = ap-south-1
[p3]
aws_access_key_id = AKIAP3
aws_secret_access_key = SECRETé日本
region = sa-east-1
[partcred]
aws_access_key_id = AKIAPARTCRED
`
	for _, tc := range []struct {
		name       string
		noFiles    bool
		configFile bool // name the config file with AWS_CONFIG_FILE
		env, args  []string
	}{
		{name: "nothing", noFiles: true},
		{name: "nothing --region", noFiles: true, args: []string{"--region", "ca-central-1"}},
		{name: "default"},
		{name: "default AWS_CONFIG_FILE", configFile: true},
		{name: "--region over the file", args: []string{"--region", "ca-central-1"}},
		{name: "keys in the config file, region in the credentials file", args: []string{"--profile", "p2"}},
		{name: "all in the credentials file", args: []string{"--profile", "p3"}},
		{name: "AWS_PROFILE", env: []string{"AWS_PROFILE=p3"}},
		{name: "AWS_DEFAULT_PROFILE", env: []string{"AWS_DEFAULT_PROFILE=p2"}},
		{name: "AWS_PROFILE over AWS_DEFAULT_PROFILE", env: []string{"AWS_PROFILE=p3", "AWS_DEFAULT_PROFILE=p2"}},
		{name: "no keys", args: []string{"--profile", "onlycfg"}},
		{name: "credential_process", args: []string{"--profile", "proc"}},
		{name: "credential_process over the config file's keys", args: []string{"--profile", "procover"}},
		{name: "the credentials file's keys over credential_process", env: []string{"AWS_PROFILE=p3"}},
		{name: "env keys and AWS_DEFAULT_REGION", env: []string{"AWS_ACCESS_KEY_ID=AKIAENV00001", "AWS_SECRET_ACCESS_KEY=envsecretzz", "AWS_DEFAULT_REGION=us-east-2"}},
		{name: "AWS_REGION over AWS_DEFAULT_REGION", env: []string{"AWS_REGION=us-east-2", "AWS_DEFAULT_REGION=eu-north-1"}},
		{name: "short keys", env: []string{"AWS_ACCESS_KEY_ID=ab", "AWS_SECRET_ACCESS_KEY=é日本x"}},
		{name: "env secret alone", env: []string{"AWS_SECRET_ACCESS_KEY=abc"}},
		{name: "env key alone", env: []string{"AWS_ACCESS_KEY_ID=AKIAENV00001"}},
		{name: "config key alone", args: []string{"--profile", "part"}},
		{name: "credentials key alone", args: []string{"--profile", "partcred"}},
		{name: "--profile unknown", args: []string{"--profile", "nope"}},
		{name: "AWS_PROFILE unknown", env: []string{"AWS_PROFILE=nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			if !tc.noFiles {
				if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
					t.Fatal(err)
				}
				for name, text := range map[string]string{"config": strings.ReplaceAll(config, "HOME", home), "credentials": credentials} {
					if err := os.WriteFile(filepath.Join(home, ".aws", name), []byte(text), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				proc := "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIAPROC9999\", \"SecretAccessKey\": \"procsecret7777\"}'\n"
				if err := os.WriteFile(filepath.Join(home, "proc"), []byte(proc), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			env := []string{"HOME=" + home, "AWS_EC2_METADATA_DISABLED=true"}
			if tc.configFile {
				env = append(env, "AWS_CONFIG_FILE="+filepath.Join(home, ".aws", "config"))
			}
			env = append(env, tc.env...)
			for _, v := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
				"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE"} {
				t.Setenv(v, "")
			}
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			args := append(append([]string{}, tc.args...), "configure", "list")
			cmd := exec.Command(awsBin, args...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
			var wantOut, wantErr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &wantOut, &wantErr
			wantCode := 0
			if err := cmd.Run(); err != nil {
				var exit *exec.ExitError
				if !errors.As(err, &exit) {
					t.Fatalf("aws %q: %v", args, err)
				}
				wantCode = exit.ExitCode()
			}
			code, out, stderr := runCLI(args...)
			// Postern's own row, after the AWS CLI's.
			if i := strings.Index(out, "  endpoint "); i >= 0 && strings.Count(out[i:], "\n") == 1 {
				out = out[:i]
			}
			if code != wantCode || out != wantOut.String() || stderr != wantErr.String() {
				t.Errorf("postern %q: exit %d\n%s%s\nthe AWS CLI: exit %d\n%s%s", args, code, out, stderr, wantCode, wantOut.String(), wantErr.String())
			}
		})
	}
}

// TestTC20ConfigurePromptsMaskAsAWSCLI: `configure` shows the current
// keys in its prompts masked as /usr/bin/aws does (16 stars and the last
// four code points: all of a shorter key). Before, a key of four bytes or
// less showed as 16 stars alone, and a non-ASCII one was cut by bytes.
func TestTC20ConfigurePromptsMaskAsAWSCLI(t *testing.T) {
	if out, err := exec.Command(awsBin, "--version").CombinedOutput(); err != nil {
		t.Skipf("%s: %v: %s", awsBin, err, bytes.TrimSpace(out))
	}
	for _, keys := range [][2]string{{"ab", "é日本xyz"}, {"", "abcd"}, {"AKIAEXAMPLE1234", "日本"}} {
		t.Run(keys[0]+"/"+keys[1], func(t *testing.T) {
			home := t.TempDir()
			if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
				t.Fatal(err)
			}
			creds := "[default]\naws_access_key_id = " + keys[0] + "\naws_secret_access_key = " + keys[1] + "\n"
			if err := os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte(creds), 0o600); err != nil {
				t.Fatal(err)
			}
			env := []string{"HOME=" + home, "AWS_EC2_METADATA_DISABLED=true"}
			for _, v := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
				"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"} {
				t.Setenv(v, "")
			}
			t.Setenv("HOME", home)
			cmd := exec.Command(awsBin, "configure")
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
			cmd.Stdin = strings.NewReader("\n\n\n\n")
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("aws configure: %v", err)
			}
			code, got, stderr := runCLIIn("\n\n\n\n", "configure")
			if code != 0 || got != string(want) {
				t.Errorf("postern configure: exit %d %s\n%q\nthe AWS CLI\n%q", code, stderr, got, want)
			}
		})
	}
}
