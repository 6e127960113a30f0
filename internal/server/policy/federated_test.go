package policy

import "testing"

// TestFederatedPrincipal: a web identity user (AssumeRoleWithWebIdentity)
// is matched by a Federated principal naming its provider, or by "*", and
// by nothing else: not by its account, nor by another provider.
func TestFederatedPrincipal(t *testing.T) {
	const prov = "arn:aws:iam::111122223333:oidc-provider/token.example.com"
	web := &Principal{Federated: prov}
	for _, tc := range []struct {
		name, principal string
		allowed         bool
	}{
		{"its provider", `{"Federated":"` + prov + `"}`, true},
		{"among others", `{"Federated":["accounts.google.com","` + prov + `"]}`, true},
		{"star", `"*"`, true},
		{"another provider", `{"Federated":"` + prov + `x"}`, false},
		{"the account", `{"AWS":"111122223333"}`, false},
		{"AWS star", `{"AWS":"*"}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":`+tc.principal+`,"Action":"sts:AssumeRoleWithWebIdentity"}]}`, ResourcePolicy)
			if err != nil {
				t.Fatal(err)
			}
			dec := Evaluate([]Source{{Name: "trust", Doc: d}}, Request{Action: "sts:AssumeRoleWithWebIdentity", Resource: "arn:aws:iam::111122223333:role/ci", Principal: web})
			if dec.Allowed != tc.allowed {
				t.Errorf("allowed = %v, want %v (%s)", dec.Allowed, tc.allowed, dec)
			}
		})
	}
	// The provider's user is not anonymous: a NotPrincipal naming the
	// provider exempts it from a Deny.
	d, err := Parse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:*"},{"Effect":"Deny","NotPrincipal":{"Federated":"`+prov+`"},"Action":"sts:*"}]}`, ResourcePolicy)
	if err != nil {
		t.Fatal(err)
	}
	if dec := Evaluate([]Source{{Name: "trust", Doc: d}}, Request{Action: "sts:AssumeRoleWithWebIdentity", Resource: "*", Principal: web}); !dec.Allowed {
		t.Errorf("NotPrincipal naming the provider: %s", dec)
	}
}
