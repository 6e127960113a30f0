package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApply: postern apply -f creates a declared network, is idempotent,
// reports changes, and --dry-run changes nothing.
func TestApply(t *testing.T) {
	srv := startBareServer(t, filepath.Join(t.TempDir(), "data"))
	spec, err := os.ReadFile("../../examples/network.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "network.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	apply := func(args ...string) string {
		t.Helper()
		out, errOut, code := srv.cli(t, nil, append([]string{"apply", "-f", file}, args...)...)
		if code != 0 {
			t.Fatalf("apply %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	write(string(spec))

	plan := apply("--dry-run")
	if !strings.Contains(plan, "+ create vpc lab") || !strings.Contains(plan, "planned (dry run") {
		t.Fatalf("dry run plan:\n%s", plan)
	}
	if out, _, _ := srv.cli(t, nil, "ec2", "describe-vpcs"); strings.Contains(out, "10.0.0.0/16") {
		t.Fatalf("dry run created a VPC:\n%s", out)
	}
	first := apply()
	for _, want := range []string{"+ create vpc lab", "+ create subnet private-a", "+ create security group endpoint-sg",
		"authorize ingress tcp|22|22||sg-", "+ register instance web-1", "+ create instance connect endpoint lab-eice", ": applied"} {
		if !strings.Contains(first, want) {
			t.Errorf("first apply lacks %q:\n%s", want, first)
		}
	}
	second := apply()
	if !strings.HasPrefix(strings.Split(second, "\n")[len(strings.Split(second, "\n"))-2], "0 to create, 0 to change") {
		t.Errorf("second apply was not a no-op:\n%s", second)
	}
	// Change a rule: one revoke and one authorize.
	write(strings.Replace(string(spec), "cidr: 10.0.0.0/16}", "cidr: 10.0.1.0/24}", 1))
	third := apply()
	if !strings.Contains(third, "revoke ingress tcp|22|22|10.0.0.0/16|") || !strings.Contains(third, "authorize ingress tcp|22|22|10.0.1.0/24|") {
		t.Errorf("rule change not applied:\n%s", third)
	}
	out, _, _ := srv.cli(t, nil, "ec2", "describe-instance-connect-endpoints")
	if strings.Count(out, `"InstanceConnectEndpointId"`) != 1 {
		t.Errorf("endpoints after three applies:\n%s", out)
	}
	// A bad file is refused with a clear message and changes nothing.
	write("version: 1\nvpcs:\n  - name: x\n    cidr: nope\n")
	_, errOut, code := srv.cli(t, nil, "apply", "-f", file)
	if code != 252 || !strings.Contains(errOut, `cidr "nope" is not an IPv4 CIDR`) {
		t.Errorf("bad file: exit %d %s", code, errOut)
	}
}
