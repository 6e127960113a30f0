package policy

import (
	"fmt"
	"slices"
	"testing"
)

func TestActionMatching(t *testing.T) {
	tests := []struct {
		element string // "Action" or "NotAction"
		pattern string // JSON value
		action  string
		want    bool
	}{
		{"Action", `"iam:GetUser"`, "iam:GetUser", true},
		{"Action", `"iam:GetUser"`, "IAM:getuser", true},
		{"Action", `"IAM:GETUSER"`, "iam:GetUser", true},
		{"Action", `"iam:GetUser"`, "iam:GetUsers", false},
		{"Action", `"iam:Get*"`, "iam:GetUser", true},
		{"Action", `"iam:Get*"`, "iam:ListUsers", false},
		{"Action", `"iam:Get?ser"`, "iam:GetUser", true},
		{"Action", `"iam:Get?ser"`, "iam:GetUsser", false},
		{"Action", `"iam:*User*"`, "iam:DeleteUserPolicy", true},
		{"Action", `"*"`, "ec2:RunInstances", true},
		{"Action", `"ec2:*"`, "ec2:DescribeInstances", true},
		{"Action", `"ec2:*"`, "ec2-instance-connect:OpenTunnel", false},
		{"Action", `"ec2-instance-connect:*"`, "ec2-instance-connect:OpenTunnel", true},
		{"Action", `["s3:GetObject","iam:GetUser"]`, "iam:GetUser", true},
		{"Action", `["s3:GetObject","iam:GetUser"]`, "iam:PutUser", false},
		{"NotAction", `"iam:*"`, "ec2:DescribeInstances", true},
		{"NotAction", `"iam:*"`, "iam:GetUser", false},
		{"NotAction", `"IAM:*"`, "iam:GetUser", false},
		{"NotAction", `["iam:*","sts:*"]`, "sts:AssumeRole", false},
		{"NotAction", `["iam:*","sts:*"]`, "s3:GetObject", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %s", tt.element, tt.pattern, tt.action), func(t *testing.T) {
			doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","%s":%s,"Resource":"*"}}`, tt.element, tt.pattern)
			d := Evaluate([]Source{{Name: "p", Doc: mustParse(t, doc, IdentityPolicy)}}, Request{Action: tt.action, Resource: "*"})
			if d.Allowed != tt.want {
				t.Fatalf("allowed = %v, want %v", d.Allowed, tt.want)
			}
		})
	}
}

func TestResourceMatching(t *testing.T) {
	alice := ctxOf("aws:username", "alice", "aws:PrincipalTag/team", "red")
	tests := []struct {
		name     string
		version  string
		element  string
		pattern  string // JSON value
		resource string
		ctx      Context
		want     bool
	}{
		{"star any arn", Version2012, "Resource", `"*"`, "arn:aws:s3:::b/k", nil, true},
		{"star star", Version2012, "Resource", `"*"`, "*", nil, true},
		{"exact", Version2012, "Resource", `"arn:aws:s3:::b"`, "arn:aws:s3:::b", nil, true},
		{"case-sensitive", Version2012, "Resource", `"arn:aws:s3:::Bucket"`, "arn:aws:s3:::bucket", nil, false},
		{"trailing star", Version2012, "Resource", `"arn:aws:s3:::b/*"`, "arn:aws:s3:::b/x/y", nil, true},
		{"trailing star not bucket", Version2012, "Resource", `"arn:aws:s3:::b/*"`, "arn:aws:s3:::b", nil, false},
		{"question one char", Version2012, "Resource", `"arn:aws:s3:::b?"`, "arn:aws:s3:::bx", nil, true},
		{"question not two", Version2012, "Resource", `"arn:aws:s3:::b?"`, "arn:aws:s3:::bxy", nil, false},
		{"glob crosses colons", Version2012, "Resource", `"arn:aws:ec2:*:instance/*"`, "arn:aws:ec2:us-east-1:123456789012:instance/i-1", nil, true},
		{"arn pattern vs star request", Version2012, "Resource", `"arn:aws:ec2:*:*:instance/*"`, "*", nil, false},
		{"list", Version2012, "Resource", `["arn:aws:s3:::a","arn:aws:s3:::b"]`, "arn:aws:s3:::b", nil, true},
		{"variable", Version2012, "Resource", `"arn:aws:s3:::home/${aws:username}/*"`, "arn:aws:s3:::home/alice/notes", alice, true},
		{"variable other user", Version2012, "Resource", `"arn:aws:s3:::home/${aws:username}/*"`, "arn:aws:s3:::home/bob/notes", alice, false},
		{"variable absent", Version2012, "Resource", `"arn:aws:s3:::home/${aws:username}/*"`, "arn:aws:s3:::home//notes", ctxOf("aws:userid", "AIDA1"), false},
		{"variable default", Version2012, "Resource", `"arn:aws:s3:::bucket-${aws:PrincipalTag/dept, 'company-wide'}"`, "arn:aws:s3:::bucket-company-wide", nil, true},
		{"variable default unused", Version2012, "Resource", `"arn:aws:s3:::bucket-${aws:PrincipalTag/team, 'company-wide'}"`, "arn:aws:s3:::bucket-red", alice, true},
		{"two variables", Version2012, "Resource", `"arn:aws:sns:*:*:${aws:PrincipalTag/team}-${aws:username}-*"`, "arn:aws:sns:us-east-1:123456789012:red-alice-topic", alice, true},
		{"escape star", Version2012, "Resource", `"arn:aws:s3:::b/${*}"`, "arn:aws:s3:::b/*", nil, true},
		{"escape star literal", Version2012, "Resource", `"arn:aws:s3:::b/${*}"`, "arn:aws:s3:::b/x", nil, false},
		{"substituted value literal", Version2012, "Resource", `"arn:aws:s3:::b/${aws:username}"`, "arn:aws:s3:::b/x", ctxOf("aws:username", "*"), false},
		{"2008 no substitution", Version2008, "Resource", `"arn:aws:s3:::home/${aws:username}/*"`, "arn:aws:s3:::home/alice/notes", alice, false},
		{"2008 literal", Version2008, "Resource", `"arn:aws:s3:::home/${aws:username}/*"`, "arn:aws:s3:::home/${aws:username}/notes", alice, true},
		{"no version literal", "", "Resource", `"arn:aws:s3:::home/${aws:username}/*"`, "arn:aws:s3:::home/${aws:username}/notes", alice, true},
		{"NotResource other", Version2012, "NotResource", `"arn:aws:s3:::secret/*"`, "arn:aws:s3:::public/x", nil, true},
		{"NotResource listed", Version2012, "NotResource", `"arn:aws:s3:::secret/*"`, "arn:aws:s3:::secret/x", nil, false},
		{"NotResource star", Version2012, "NotResource", `"*"`, "arn:aws:s3:::x", nil, false},
		{"NotResource variable", Version2012, "NotResource", `"arn:aws:s3:::home/${aws:username}"`, "arn:aws:s3:::home/alice", alice, false},
		// A variable with no value matches no resource, so NotResource
		// excludes nothing (AWS: "will not match any resource").
		{"NotResource variable absent", Version2012, "NotResource", `"arn:aws:s3:::home/${aws:username}"`, "arn:aws:s3:::home/alice", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ver := ""
			if tt.version != "" {
				ver = `"Version":"` + tt.version + `",`
			}
			doc := fmt.Sprintf(`{%s"Statement":[{"Effect":"Allow","Action":"s3:GetObject","%s":%s}]}`, ver, tt.element, tt.pattern)
			d := Evaluate([]Source{{Name: "p", Doc: mustParse(t, doc, IdentityPolicy)}},
				Request{Action: "s3:GetObject", Resource: tt.resource, Context: tt.ctx})
			if d.Allowed != tt.want {
				t.Fatalf("%s %s on %q: allowed = %v, want %v", tt.element, tt.pattern, tt.resource, d.Allowed, tt.want)
			}
		})
	}
}

func TestEvaluationLogic(t *testing.T) {
	allowS3 := `{"Version":"2012-10-17","Statement":[{"Sid":"ReadAll","Effect":"Allow","Action":"s3:*","Resource":"*"}]}`
	denySecret := `{"Version":"2012-10-17","Statement":[
		{"Sid":"ReadOwn","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
		{"Sid":"NoSecrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::b/secret/*"}]}`
	denyIfNotTLS := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}}`
	allowTwice := `{"Version":"2012-10-17","Statement":[
		{"Sid":"First","Effect":"Allow","Action":"s3:List*","Resource":"*"},
		{"Sid":"Second","Effect":"Allow","Action":"s3:*","Resource":"*"}]}`
	parse := func(name, doc string) Source {
		return Source{Name: name, Doc: mustParse(t, doc, IdentityPolicy)}
	}
	a, d, tls, two := parse("allow", allowS3), parse("deny", denySecret), parse("tls", denyIfNotTLS), parse("two", allowTwice)

	tests := []struct {
		name     string
		policies []Source
		action   string
		resource string
		ctx      Context
		want     Effect
		policy   string
		index    int
		sid      string
	}{
		{"no policies", nil, "s3:GetObject", "arn:aws:s3:::b/x", nil, ImplicitDeny, "", 0, ""},
		{"nil document", []Source{{Name: "nil"}}, "s3:GetObject", "arn:aws:s3:::b/x", nil, ImplicitDeny, "", 0, ""},
		{"allowed", []Source{a}, "s3:GetObject", "arn:aws:s3:::b/x", nil, Allow, "allow", 0, "ReadAll"},
		{"not allowed action", []Source{a}, "ec2:RunInstances", "*", nil, ImplicitDeny, "", 0, ""},
		{"deny in same policy", []Source{d}, "s3:GetObject", "arn:aws:s3:::b/secret/x", nil, Deny, "deny", 1, "NoSecrets"},
		{"deny beats allow in another policy", []Source{a, d}, "s3:GetObject", "arn:aws:s3:::b/secret/x", nil, Deny, "deny", 1, "NoSecrets"},
		{"deny beats allow in a later policy", []Source{d, a}, "s3:PutObject", "arn:aws:s3:::b/secret/x", nil, Deny, "deny", 1, "NoSecrets"},
		{"allow when deny does not match", []Source{d, a}, "s3:GetObject", "arn:aws:s3:::b/public", nil, Allow, "deny", 0, "ReadOwn"},
		{"first allow reported", []Source{a, d}, "s3:GetObject", "arn:aws:s3:::b/public", nil, Allow, "allow", 0, "ReadAll"},
		{"first allow statement reported", []Source{two}, "s3:ListBucket", "*", nil, Allow, "two", 0, "First"},
		{"second allow statement", []Source{two}, "s3:GetObject", "*", nil, Allow, "two", 1, "Second"},
		{"conditional deny applies", []Source{a, tls}, "s3:GetObject", "arn:aws:s3:::b/x", ctxOf("aws:SecureTransport", "false"), Deny, "tls", 0, ""},
		{"conditional deny does not apply", []Source{a, tls}, "s3:GetObject", "arn:aws:s3:::b/x", ctxOf("aws:SecureTransport", "true"), Allow, "allow", 0, "ReadAll"},
		{"deny alone is not an allow", []Source{tls}, "s3:GetObject", "arn:aws:s3:::b/x", ctxOf("aws:SecureTransport", "true"), ImplicitDeny, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := Evaluate(tt.policies, Request{Action: tt.action, Resource: tt.resource, Context: tt.ctx})
			checkDecision(t, dec, tt.want, tt.policy, tt.index, tt.sid)
		})
	}
}

func TestMatches(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},
		{"Sid":"B","Effect":"Deny","Action":"s3:Delete*","Resource":"*"},
		{"Sid":"C","Effect":"Allow","Action":"ec2:*","Resource":"*"}]}`, IdentityPolicy)
	got := Matches([]Source{{Name: "p", Doc: d}}, Request{Action: "s3:DeleteObject", Resource: "arn:aws:s3:::b/k"})
	want := []Match{{Policy: "p", Sid: "A", Index: 0, Effect: Allow}, {Policy: "p", Sid: "B", Index: 1, Effect: Deny}}
	if !slices.Equal(got, want) {
		t.Fatalf("Matches = %+v, want %+v", got, want)
	}
}

func TestDecisionString(t *testing.T) {
	d := Decision{Effect: Deny, Matched: &Match{Policy: "arn:aws:iam::123456789012:policy/p", Sid: "DenyAll", Index: 1, Effect: Deny}}
	if got, want := d.String(), "Deny by arn:aws:iam::123456789012:policy/p statement 1 (DenyAll)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := (Decision{Effect: ImplicitDeny}).String(); got != "ImplicitDeny" {
		t.Errorf("String = %q", got)
	}
	if got := (&Match{Policy: "user/alice:inline/p"}).String(); got != "user/alice:inline/p statement 0" {
		t.Errorf("Match.String = %q", got)
	}
}

func TestContext(t *testing.T) {
	c := Context{}
	c.Set("AWS:SourceIp", "192.0.2.1")
	if _, ok := c["aws:sourceip"]; !ok {
		t.Fatalf("Set did not lower-case the key: %v", c)
	}
	for _, k := range []string{"aws:sourceip", "AWS:SOURCEIP", "aws:SourceIp"} {
		if v, ok := c.Get(k); !ok || len(v) != 1 || v[0] != "192.0.2.1" {
			t.Errorf("Get(%q) = %v, %v", k, v, ok)
		}
	}
	if _, ok := c.Get("aws:username"); ok {
		t.Error("Get of an absent key reported it present")
	}
	c.Set("aws:TagKeys", "a", "b")
	if v, _ := c.Get("aws:tagkeys"); len(v) != 2 {
		t.Errorf("multivalued Get = %v", v)
	}

	// A Context filled by assigning to the map still matches keys
	// case-insensitively.
	raw := Context{"EC2-Instance-Connect:RemotePort": {"22"}}
	if v, ok := raw.Get("ec2-instance-connect:remoteport"); !ok || v[0] != "22" {
		t.Errorf("Get on a mixed-case map key = %v, %v", v, ok)
	}
	if !condAllows(t, Version2012, `{"NumericEquals":{"ec2-instance-connect:remotePort":"22"}}`, raw) {
		t.Error("condition did not see a mixed-case map key")
	}
}

func TestPrincipalMatching(t *testing.T) {
	const acct, other = "111122223333", "444455556666"
	alice := &Principal{ARN: "arn:aws:iam::" + acct + ":user/alice", Account: acct}
	bob := &Principal{ARN: "arn:aws:iam::" + acct + ":user/division/bob"}
	carol := &Principal{ARN: "arn:aws:iam::" + other + ":user/carol", Account: other}
	session := &Principal{ARN: "arn:aws:sts::" + acct + ":assumed-role/deploy/s1", Account: acct}
	session2 := &Principal{ARN: "arn:aws:sts::" + acct + ":assumed-role/deploy/s2", Account: acct}
	otherRole := &Principal{ARN: "arn:aws:sts::" + acct + ":assumed-role/audit/s1", Account: acct}
	otherAcctRole := &Principal{ARN: "arn:aws:sts::" + other + ":assumed-role/deploy/s1", Account: other}
	root := &Principal{ARN: "arn:aws:iam::" + acct + ":root", Account: acct}
	accountOnly := &Principal{Account: acct}
	ec2 := &Principal{Service: "ec2.amazonaws.com"}
	var anonymous *Principal

	type who struct {
		name string
		p    *Principal
	}
	everyone := []who{{"alice", alice}, {"bob", bob}, {"carol", carol}, {"session", session}, {"session2", session2},
		{"otherRole", otherRole}, {"otherAcctRole", otherAcctRole}, {"root", root}, {"accountOnly", accountOnly},
		{"ec2", ec2}, {"anonymous", anonymous}}

	tests := []struct {
		name    string
		element string // "Principal" or "NotPrincipal"
		value   string // JSON
		allowed []string
	}{
		{"star", "Principal", `"*"`, []string{"alice", "bob", "carol", "session", "session2", "otherRole", "otherAcctRole", "root", "accountOnly", "ec2", "anonymous"}},
		{"AWS star", "Principal", `{"AWS":"*"}`, []string{"alice", "bob", "carol", "session", "session2", "otherRole", "otherAcctRole", "root", "accountOnly", "ec2", "anonymous"}},
		{"account id", "Principal", `{"AWS":"` + acct + `"}`, []string{"alice", "bob", "session", "session2", "otherRole", "root", "accountOnly"}},
		{"account root", "Principal", `{"AWS":"arn:aws:iam::` + acct + `:root"}`, []string{"alice", "bob", "session", "session2", "otherRole", "root", "accountOnly"}},
		{"user", "Principal", `{"AWS":"arn:aws:iam::` + acct + `:user/alice"}`, []string{"alice"}},
		{"user with path", "Principal", `{"AWS":"arn:aws:iam::` + acct + `:user/division/bob"}`, []string{"bob"}},
		{"list", "Principal", `{"AWS":["arn:aws:iam::` + other + `:root","arn:aws:iam::` + acct + `:user/alice"]}`, []string{"alice", "carol", "otherAcctRole"}},
		{"role matches its sessions", "Principal", `{"AWS":"arn:aws:iam::` + acct + `:role/deploy"}`, []string{"session", "session2"}},
		{"role with path", "Principal", `{"AWS":"arn:aws:iam::` + acct + `:role/ci/deploy"}`, []string{"session", "session2"}},
		{"session", "Principal", `{"AWS":"arn:aws:sts::` + acct + `:assumed-role/deploy/s1"}`, []string{"session"}},
		{"service", "Principal", `{"Service":"ec2.amazonaws.com"}`, []string{"ec2"}},
		{"service list", "Principal", `{"Service":["lambda.amazonaws.com","EC2.amazonaws.com"]}`, []string{"ec2"}},
		{"federated matches no caller", "Principal", `{"Federated":"cognito-identity.amazonaws.com"}`, nil},
		{"mixed types", "Principal", `{"AWS":"arn:aws:iam::` + acct + `:user/alice","Service":"ec2.amazonaws.com"}`, []string{"alice", "ec2"}},
		// NotPrincipal exempts a caller only when it names every identity
		// AWS evaluates the caller as (AWS: "you must also specify the
		// account ARN of the not-denied principal").
		{"not user and account", "NotPrincipal", `{"AWS":["arn:aws:iam::` + acct + `:user/alice","arn:aws:iam::` + acct + `:root"]}`,
			[]string{"alice", "root", "accountOnly"}},
		{"not user only", "NotPrincipal", `{"AWS":"arn:aws:iam::` + acct + `:user/alice"}`, nil},
		{"not account only", "NotPrincipal", `{"AWS":"` + acct + `"}`, []string{"root", "accountOnly"}},
		{"not session role account", "NotPrincipal", `{"AWS":["arn:aws:sts::` + acct + `:assumed-role/deploy/s1","arn:aws:iam::` + acct + `:role/deploy","arn:aws:iam::` + acct + `:root"]}`,
			[]string{"session", "root", "accountOnly"}},
		{"not session without role", "NotPrincipal", `{"AWS":["arn:aws:sts::` + acct + `:assumed-role/deploy/s1","arn:aws:iam::` + acct + `:root"]}`,
			[]string{"root", "accountOnly"}},
		{"not service", "NotPrincipal", `{"Service":"ec2.amazonaws.com"}`, []string{"ec2"}},
		{"not star", "NotPrincipal", `"*"`, []string{"alice", "bob", "carol", "session", "session2", "otherRole", "otherAcctRole", "root", "accountOnly", "ec2", "anonymous"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc string
			if tt.element == "Principal" {
				// Allow exactly the named principals.
				doc = `{"Version":"2012-10-17","Statement":[{"Sid":"Trust","Effect":"Allow","Principal":` + tt.value + `,"Action":"sts:AssumeRole"}]}`
			} else {
				// Allow everyone, then deny everyone but the named principals.
				doc = `{"Version":"2012-10-17","Statement":[
					{"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
					{"Sid":"AllBut","Effect":"Deny","NotPrincipal":` + tt.value + `,"Action":"sts:AssumeRole"}]}`
			}
			src := []Source{{Name: "trust", Doc: mustParse(t, doc, ResourcePolicy)}}
			for _, w := range everyone {
				d := Evaluate(src, Request{Action: "sts:AssumeRole", Resource: "arn:aws:iam::" + acct + ":role/target", Principal: w.p})
				if want := slices.Contains(tt.allowed, w.name); d.Allowed != want {
					t.Errorf("%s: %v, want allowed %v", w.name, d, want)
				}
				if tt.element == "NotPrincipal" && !d.Allowed && (d.Matched == nil || d.Matched.Sid != "AllBut") {
					t.Errorf("%s: denied by %v, want statement AllBut", w.name, d.Matched)
				}
			}
		})
	}
}

func TestResourcePolicyResources(t *testing.T) {
	doc := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
		{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}`
	src := []Source{{Name: "rp", Doc: mustParse(t, doc, ResourcePolicy)}}
	p := &Principal{ARN: "arn:aws:iam::111122223333:user/alice"}
	tests := []struct {
		action, resource string
		want             bool
	}{
		{"s3:GetObject", "arn:aws:s3:::b/k", true},
		{"s3:GetObject", "arn:aws:s3:::c/k", false},
		{"sts:AssumeRole", "arn:aws:iam::111122223333:role/any", true},
		{"sts:AssumeRole", "*", true},
	}
	for _, tt := range tests {
		if got := Evaluate(src, Request{Action: tt.action, Resource: tt.resource, Principal: p}).Allowed; got != tt.want {
			t.Errorf("%s on %s: allowed %v, want %v", tt.action, tt.resource, got, tt.want)
		}
	}
	// The principal is not consulted for identity policies.
	id := []Source{{Name: "id", Doc: mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, IdentityPolicy)}}
	if !Evaluate(id, Request{Action: "s3:GetObject", Resource: "*"}).Allowed {
		t.Error("identity policy needed a principal")
	}
}

func TestEvaluateAllocations(t *testing.T) {
	open := []Source{{Name: "connect", Doc: mustParse(t, readTestdata(t, seedOpenFile), IdentityPolicy)}}
	allow := Request{Action: "ec2-instance-connect:OpenTunnel", Resource: seedEndpoint, Context: tunnelCtx("22", "10.0.1.1", "60")}
	deny := Request{Action: "ec2-instance-connect:OpenTunnel", Resource: seedEndpoint, Context: tunnelCtx("22", "10.0.1.1", "3600")}
	if n := testing.AllocsPerRun(100, func() { Evaluate(open, allow) }); n > 1 {
		t.Errorf("Evaluate (allow) allocates %v times, want at most 1 (the Match)", n)
	}
	if n := testing.AllocsPerRun(100, func() { Evaluate(open, deny) }); n != 0 {
		t.Errorf("Evaluate (implicit deny) allocates %v times, want 0", n)
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	src := []Source{
		{Name: "connect", Doc: mustParse(t, readTestdata(t, seedOpenFile), IdentityPolicy)},
		{Name: "home", Doc: mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}}`, IdentityPolicy)},
	}
	done := make(chan bool)
	for i := range 8 {
		go func() {
			ok := true
			for j := range 200 {
				user := fmt.Sprintf("u%d", (i+j)%3)
				ctx := tunnelCtx("22", "10.0.1.1", "60")
				ctx.Set("aws:username", user)
				ok = ok && Evaluate(src, Request{Action: "ec2-instance-connect:OpenTunnel", Resource: seedEndpoint, Context: ctx}).Allowed
				ok = ok && Evaluate(src, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::home/" + user + "/k", Context: ctx}).Allowed
				ok = ok && !Evaluate(src, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::home/other/k", Context: ctx}).Allowed
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Error("a concurrent evaluation decided wrongly")
		}
	}
}
