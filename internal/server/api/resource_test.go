package api

import (
	"fmt"
	"testing"

	"github.com/postern/postern/internal/wire/awsproto"
)

// TestResourceOfMatchesSprintf: the ARN resourceOf builds from the
// prefixes filled in once is the one fmt.Sprintf writes from each
// resourceKeys form, for every service and parameter, with values that
// look like format verbs too.
func TestResourceOfMatchesSprintf(t *testing.T) {
	const account, region = "123456789012", "eu-west-3"
	d := &Dispatcher{account: account, region: region, resources: resourceKeysOf(account, region)}
	n := 0
	for svc, keys := range resourceKeys {
		for i, k := range keys {
			for _, v := range []string{"eice-0123456789abcdef0", "bob", "arn:aws:iam::123456789012:policy/p%[1]s%d", "x/y"} {
				// Only this parameter (and those after it) set: the
				// first key present wins, as before.
				rec := &callRecord{params: awsproto.Params{k.param: {v}}}
				for _, later := range keys[i+1:] {
					rec.params[later.param] = []string{"later"}
				}
				typ, name, arn := d.resourceOf(svc, rec)
				want := fmt.Sprintf(k.arn, account, region, v)
				if typ != k.typ || name != v || arn != want {
					t.Errorf("%s %s=%q: got (%q, %q, %q), want (%q, %q, %q)", svc, k.param, v, typ, name, arn, k.typ, v, want)
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no resource keys checked")
	}
	if typ, name, arn := d.resourceOf("ec2", &callRecord{params: awsproto.Params{"Action": {"DescribeVpcs"}}}); typ != "" || name != "" || arn != "" {
		t.Errorf("no resource parameter: got (%q, %q, %q)", typ, name, arn)
	}
	if typ, _, _ := d.resourceOf("ec2", &callRecord{}); typ != "" {
		t.Errorf("no parameters: got %q", typ)
	}
}
