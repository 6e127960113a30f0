package cli_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestRegisterInstanceOutput: `ec2 register-instance`, sent as Postern's
// own RegisterInstance action, prints its reservation exactly as the SDK's
// RunInstances deserializer reads it: the same reservation read back by
// `ec2 describe-instances` (the SDK's own EC2 deserializer) is printed the
// same, in JSON and in text.
func TestRegisterInstanceOutput(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	_, subnet, _, group := e.Network("10.42.0.0/16", "10.42.1.0/24")
	cliEnv(t, e.Admin)
	global := []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", filepath.Join(e.Dir, "ca.pem")}
	run := func(args ...string) string {
		t.Helper()
		var out, errb strings.Builder
		if code := cli.Main(context.Background(), append(append([]string{}, global...), args...), strings.NewReader(""), &out, &errb); code != cli.ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}

	tests := []struct {
		name, output string
		args         []string
	}{
		{"addresses, groups and tags", "json", []string{"--private-ip-address", "10.42.1.5", "--security-group-ids", group,
			"--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=web},{Key=team,Value=a b}]"}},
		{"defaults", "json", []string{"--private-ip-address", "10.42.1.6"}},
		{"windows", "json", []string{"--private-ip-address", "10.42.1.7", "--platform", "windows"}},
		{"text", "text", []string{"--private-ip-address", "10.42.1.8", "--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=db}]"}},
	}
	idRe := regexp.MustCompile(`\bi-[0-9a-f]+\b`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := run(append([]string{"--output", tc.output, "ec2", "register-instance", "--subnet-id", subnet}, tc.args...)...)
			ids := idRe.FindAllString(reg, -1)
			if len(ids) == 0 {
				t.Fatalf("register-instance printed no instance id:\n%s", reg)
			}
			desc := run("--output", tc.output, "ec2", "describe-instances", "--instance-ids", ids[0])
			if tc.output == "text" {
				// run-instances' reservation is the top level: its line
				// has no RESERVATIONS heading, as in the AWS CLI's text.
				if "RESERVATIONS\t"+reg != desc {
					t.Fatalf("register-instance printed\n%s\ndescribe-instances prints the reservation as\n%s", reg, desc)
				}
				return
			}
			var got map[string]any
			var described struct{ Reservations []any }
			if err := json.Unmarshal([]byte(reg), &got); err != nil {
				t.Fatalf("register-instance printed %q: %v", reg, err)
			}
			if err := json.Unmarshal([]byte(desc), &described); err != nil || len(described.Reservations) != 1 {
				t.Fatalf("describe-instances printed %q (%v)", desc, err)
			}
			if !reflect.DeepEqual(got, described.Reservations[0]) {
				t.Fatalf("register-instance printed\n%s\ndescribe-instances prints the reservation as\n%s", reg, desc)
			}
		})
	}
}
