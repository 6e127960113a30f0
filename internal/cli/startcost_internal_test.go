package cli

import (
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/cli/served"
)

// TestServedOperationsFoundByName: the operations a service command
// offers, found by name (servedOperations), are the ones the scan of every
// SDK method (operations) finds and the server serves, with the same
// method and input, in the same order.
func TestServedOperationsFoundByName(t *testing.T) {
	for _, svc := range awsServices() {
		t.Run(svc.name, func(t *testing.T) {
			client := svc.client(aws.Config{}, "")
			var want []operation
			for _, op := range operations(client) {
				if served.Serves(svc.name, op.name) {
					want = append(want, op)
				}
			}
			got := servedOperations(client, svc.name)
			same := func(a, b operation) bool {
				return a.name == b.name && a.input == b.input && a.method.Type() == b.method.Type()
			}
			if !slices.EqualFunc(got, want, same) {
				t.Errorf("found by name: %v\nscanned: %v", opNames(got), opNames(want))
			}
			if len(want) == 0 && len(served.Operations[svc.name]) > 0 && svc.name != "ec2-instance-connect" {
				t.Errorf("no SDK operation of %v found", served.Operations[svc.name])
			}
		})
	}
}

func opNames(ops []operation) []string {
	var out []string
	for _, op := range ops {
		out = append(out, op.name)
	}
	return out
}

// TestKebabSDKNames: every operation name and every input member name
// (nested too) of the SDK clients the CLI offers turns into the same
// command or option name by kebab's scan as by botocore's expressions.
func TestKebabSDKNames(t *testing.T) {
	seen := map[reflect.Type]bool{}
	names := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				names[f.Name] = true
				walk(f.Type)
			}
		}
	}
	for _, svc := range awsServices() {
		for _, op := range operations(svc.client(aws.Config{}, "")) {
			names[op.name] = true
			walk(op.input)
		}
	}
	if len(names) < 1000 {
		t.Fatalf("only %d names: the walk missed the SDK's shapes", len(names))
	}
	for name := range names {
		if got, want := kebab(name), kebabRE(name); got != want {
			t.Errorf("kebab(%q) = %q, botocore's rules make %q", name, got, want)
		}
	}
}

func FuzzKebab(f *testing.F) {
	for _, s := range []string{"SSHPublicKey", "InstanceOSUser", "Ipv6CidrBlock", "DescribeVpcs", "ABCDef", "aB", "a1B",
		"X", "", "_Ab_Cd", "IPv6Address", "MaxResults", "EC2InstanceConnect", "Ünï", "a\nBc", "GetAWSThing2Go"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := kebab(name), kebabRE(name); got != want {
			t.Errorf("kebab(%q) = %q, botocore's rules make %q", name, got, want)
		}
	})
}
