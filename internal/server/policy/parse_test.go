package policy

import (
	"errors"
	"strings"
	"testing"
)

// stmt wraps statement JSON in a 2012-10-17 document.
func stmt(s string) string {
	return `{"Version":"2012-10-17","Statement":[` + s + `]}`
}

func TestParseErrors(t *testing.T) {
	const ok = `{"Effect":"Allow","Action":"*","Resource":"*"}`
	tests := []struct {
		name string
		kind Kind
		doc  string
		want string // substring of the message
	}{
		{"not json", IdentityPolicy, `not json`, "Syntax errors in policy."},
		{"truncated", IdentityPolicy, `{"Version":"2012-10-17","Statement":[`, "Syntax errors in policy."},
		{"array", IdentityPolicy, `[]`, "Syntax errors in policy."},
		{"string", IdentityPolicy, `"policy"`, "Syntax errors in policy."},
		{"null", IdentityPolicy, `null`, "Syntax errors in policy."},
		{"trailing data", IdentityPolicy, stmt(ok) + ` {}`, "Syntax errors in policy."},
		{"empty", IdentityPolicy, ``, "Syntax errors in policy."},
		{"too large", IdentityPolicy, `{"Id":"` + strings.Repeat("x", MaxDocumentSize) + `",` + stmt(ok)[1:], "exceeds the maximum size of 131072 bytes"},
		{"unknown kind", Kind(0), stmt(ok), "unknown policy kind"},
		{"no statement", IdentityPolicy, `{"Version":"2012-10-17"}`, "Missing required field Statement"},
		{"unknown version", IdentityPolicy, `{"Version":"2012-10-18","Statement":[` + ok + `]}`, `The policy failed legacy parsing: unsupported Version "2012-10-18"`},
		{"empty version", IdentityPolicy, `{"Version":"","Statement":[` + ok + `]}`, "The policy failed legacy parsing"},
		{"numeric version", IdentityPolicy, `{"Version":2012,"Statement":[` + ok + `]}`, "Syntax errors in policy."},
		{"unknown top-level", IdentityPolicy, `{"Version":"2012-10-17","Statment":[],"Statement":[` + ok + `]}`, "Unknown field Statment"},
		{"id not string", IdentityPolicy, `{"Version":"2012-10-17","Id":5,"Statement":[` + ok + `]}`, "Id must be a string"},
		{"statement string", IdentityPolicy, `{"Version":"2012-10-17","Statement":"x"}`, "Statement must be an object or an array of objects"},
		{"statement element not object", IdentityPolicy, stmt(ok + `,1`), "Statement 2: a statement must be an object"},
		{"unknown statement element", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condtion":{}}`), `Statement 1: unknown element "Condtion"`},
		{"missing effect", IdentityPolicy, stmt(`{"Action":"*","Resource":"*"}`), "Missing required field Effect"},
		{"effect lower-case", IdentityPolicy, stmt(`{"Effect":"allow","Action":"*","Resource":"*"}`), `Statement 1: invalid Effect "allow"`},
		{"effect not string", IdentityPolicy, stmt(`{"Effect":true,"Action":"*","Resource":"*"}`), "Effect must be a string"},
		{"identity with principal", IdentityPolicy, stmt(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}`), "Policy document should not specify a principal."},
		{"identity with not principal", IdentityPolicy, stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"*","Resource":"*"}`), "Policy document should not specify a principal."},
		{"trust without principal", ResourcePolicy, stmt(`{"Effect":"Allow","Action":"sts:AssumeRole"}`), "Missing required field Principal"},
		{"principal and not principal", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"sts:AssumeRole"}`), "Principal and NotPrincipal cannot both be present"},
		{"principal bare arn", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":"arn:aws:iam::111122223333:root","Action":"sts:AssumeRole"}`), "Invalid principal in policy"},
		{"principal name", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"sts:AssumeRole"}`), `Invalid principal in policy: "AWS":"alice"`},
		{"principal wildcard arn", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"sts:AssumeRole"}`), "Invalid principal in policy"},
		{"principal short account", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::12345:root"},"Action":"sts:AssumeRole"}`), "Invalid principal in policy"},
		{"principal not iam", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:s3:::bucket"},"Action":"sts:AssumeRole"}`), "Invalid principal in policy"},
		{"principal unknown type", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{"Users":"alice"},"Action":"sts:AssumeRole"}`), `unknown principal type "Users"`},
		{"principal empty object", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{},"Action":"sts:AssumeRole"}`), "Invalid principal in policy"},
		{"principal empty list", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{"AWS":[]},"Action":"sts:AssumeRole"}`), "Invalid principal in policy"},
		{"principal number", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{"AWS":111122223333},"Action":"sts:AssumeRole"}`), "Invalid principal in policy"},
		{"missing action", IdentityPolicy, stmt(`{"Effect":"Allow","Resource":"*"}`), "Policy statement must contain actions."},
		{"empty action list", IdentityPolicy, stmt(`{"Effect":"Allow","Action":[],"Resource":"*"}`), "Policy statement must contain actions."},
		{"action and not action", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","NotAction":"iam:*","Resource":"*"}`), "Action and NotAction cannot both be present"},
		{"action without vendor", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"GetUser","Resource":"*"}`), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."},
		{"action empty name", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"iam:","Resource":"*"}`), `Statement 1: invalid action "iam:"`},
		{"action with space", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"iam:Get User","Resource":"*"}`), `invalid action "iam:Get User"`},
		{"action number", IdentityPolicy, stmt(`{"Effect":"Allow","Action":5,"Resource":"*"}`), "Action must be a string or an array of strings"},
		{"action list with number", IdentityPolicy, stmt(`{"Effect":"Allow","Action":["iam:GetUser",5],"Resource":"*"}`), "Action must be a string or an array of strings"},
		{"not action without vendor", IdentityPolicy, stmt(`{"Effect":"Allow","NotAction":"*User","Resource":"*"}`), "Actions/Conditions must be prefaced by a vendor"},
		{"missing resource", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*"}`), "Policy statement must contain resources."},
		{"empty resource list", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":[]}`), "Policy statement must contain resources."},
		{"resource not arn", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"bucket"}`), `Resource bucket must be in ARN format or "*".`},
		{"not resource not arn", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","NotResource":["*","x"]}`), `Resource x must be in ARN format or "*".`},
		{"resource and not resource", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}`), "Resource and NotResource cannot both be present"},
		{"resource object", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":{"a":1}}`), "Resource must be a string or an array of strings"},
		{"sid not alphanumeric", IdentityPolicy, stmt(`{"Sid":"my-sid","Effect":"Allow","Action":"*","Resource":"*"}`), "Statement IDs (SID) must be alpha-numeric"},
		{"sid not string", IdentityPolicy, stmt(`{"Sid":1,"Effect":"Allow","Action":"*","Resource":"*"}`), "Sid must be a string"},
		{"duplicate sid", IdentityPolicy, stmt(`{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}`), "Statement IDs (SID) in a single policy must be unique."},
		{"unknown operator", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqualz":{"k:a":"x"}}}`), `Statement 1: unknown condition operator "StringEqualz"`},
		{"unknown operator second statement", IdentityPolicy, stmt(ok + `,{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqualz":{"k:a":"x"}}}`), `Statement 2: unknown condition operator "StringEqualz"`},
		{"null if exists", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NullIfExists":{"k:a":"true"}}}`), `unknown condition operator "NullIfExists"`},
		{"qualified null", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAnyValue:Null":{"k:a":"true"}}}`), `unknown condition operator "ForAnyValue:Null"`},
		{"unknown qualifier", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForSomeValues:StringEquals":{"k:a":"x"}}}`), "unknown condition operator"},
		{"bare IfExists", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IfExists":{"k:a":"x"}}}`), "unknown condition operator"},
		{"condition not object", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":[]}`), "Condition must be an object"},
		{"operator not object", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":"x"}}`), `condition operator "StringEquals" must map condition keys to values`},
		{"key without vendor", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"owner":"x"}}}`), "Actions/Conditions must be prefaced by a vendor"},
		{"value object", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"k:a":{"x":1}}}}`), `condition key "k:a" must have a string, number or boolean value`},
		{"value null", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"k:a":null}}}`), "must have a string, number or boolean value"},
		{"value nested array", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"k:a":[["x"]]}}}`), "must have a string, number or boolean value"},
		{"bad number", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"k:n":"abc"}}}`), `invalid number "abc" for NumericEquals "k:n"`},
		{"hex number", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"k:n":"0x10"}}}`), "invalid number"},
		{"infinite number", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"k:n":"1e999"}}}`), "invalid number"},
		{"variable in numeric", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"k:n":"${k:m}"}}}`), "invalid number"},
		{"bad date", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}`), `invalid date "tomorrow"`},
		{"bad date month", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2020-13-01T00:00:00Z"}}}`), "invalid date"},
		{"bad cidr", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}`), `invalid IP address or CIDR "10.0.0.0/33"`},
		{"bad ip", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"300.1.1.1"}}}`), "invalid IP address or CIDR"},
		{"ip zone", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"fe80::1%eth0"}}}`), "invalid IP address or CIDR"},
		{"bad base64", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"BinaryEquals":{"k:b":"!!!"}}}`), "invalid base64 value"},
		{"bad null value", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Null":{"k:a":"maybe"}}}`), "want true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(tt.doc, tt.kind)
			if err == nil {
				t.Fatalf("Parse succeeded (%d statements), want error containing %q", len(d.Statements), tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			if !strings.Contains(pe.Msg, tt.want) || pe.Error() != pe.Msg {
				t.Fatalf("error %q, want it to contain %q", pe.Msg, tt.want)
			}
		})
	}
}

func TestParseExactMessages(t *testing.T) {
	// Messages other packages pass on to clients as AWS does.
	tests := []struct {
		kind Kind
		doc  string
		want string
	}{
		{IdentityPolicy, `{`, "Syntax errors in policy."},
		{IdentityPolicy, stmt(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}`), "Policy document should not specify a principal."},
		{IdentityPolicy, stmt(`{"Action":"*","Resource":"*"}`), "Missing required field Effect"},
		{IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqualz":{"k:a":"x"}}}`),
			`Statement 2: unknown condition operator "StringEqualz"`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.doc, tt.kind)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%s) = %v, want %q", tt.doc, err, tt.want)
		}
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name       string
		kind       Kind
		doc        string
		version    string
		statements int
	}{
		{"single statement object", IdentityPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, Version2012, 1},
		{"no version", IdentityPolicy, `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, "", 1},
		{"2008", IdentityPolicy, `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, Version2008, 1},
		{"id", IdentityPolicy, `{"Version":"2012-10-17","Id":"p1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, Version2012, 1},
		{"empty statement list", IdentityPolicy, `{"Version":"2012-10-17","Statement":[]}`, Version2012, 0},
		{"whitespace", IdentityPolicy, " \n{ \"Statement\" : [ { \"Effect\" : \"Deny\" , \"NotAction\" : [ \"iam:*\" ] , \"NotResource\" : \"arn:aws:s3:::x\" } ] }\n", "", 1},
		{"mixed condition values", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"k:a":["x",1,true,2.5]},"Bool":{"aws:SecureTransport":false}}}`), Version2012, 1},
		{"lower-case operator", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"numericlessthanequals":{"k:n":60}}}`), Version2012, 1},
		{"unicode", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bücket/ø/*","Condition":{"StringLike":{"s3:prefix":"日本/*"}}}`), Version2012, 1},
		{"trust policy", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`), Version2012, 1},
		{"trust policy with resource", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/r"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`), Version2012, 1},
		{"federated and canonical", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:saml-provider/idp","CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},"Action":"sts:AssumeRoleWithSAML"}`), Version2012, 1},
		{"not principal", ResourcePolicy, stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:sts::111122223333:assumed-role/r/s","arn:aws:sts::111122223333:federated-user/bob"]},"Action":"*"}`), Version2012, 1},
		{"date forms", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":["2030-01-01","2030-01-01T00:00:00Z","2030-01-01T00:00:00.123+02:00","20300101T000000Z",1893456000]}}}`), Version2012, 1},
		{"ip forms", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.1","10.0.0.0/8","::1","2001:db8::/32","::ffff:10.0.0.0/104"]}}}`), Version2012, 1},
		{"variables in resource", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":["arn:aws:s3:::b/${aws:username}/*","arn:aws:s3:::b/${aws:username, 'x'}","arn:aws:s3:::b/${","arn:aws:s3:::b/${}"]}`), Version2012, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustParse(t, tt.doc, tt.kind)
			if d.Version != tt.version || len(d.Statements) != tt.statements || d.Kind != tt.kind {
				t.Fatalf("Version %q, %d statements, kind %v; want %q, %d, %v", d.Version, len(d.Statements), d.Kind, tt.version, tt.statements, tt.kind)
			}
		})
	}
}

func TestParseDocumentFields(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Id":"doc1","Statement":[
		{"Sid":"One","Effect":"Deny","NotAction":["iam:*","sts:*"],"NotResource":"arn:aws:s3:::b",
		 "Condition":{"StringEquals":{"aws:username":"alice","aws:PrincipalTag/team":["red","blue"]},"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"k:n":60}}}]}`, IdentityPolicy)
	if d.ID != "doc1" || d.Kind != IdentityPolicy {
		t.Fatalf("ID %q kind %v", d.ID, d.Kind)
	}
	st := d.Statements[0]
	if st.Sid != "One" || st.Effect != Deny || len(st.NotAction) != 2 || st.Action != nil || len(st.NotResource) != 1 || st.Resource != nil {
		t.Fatalf("statement = %+v", st)
	}
	want := []Condition{
		{"Bool", "aws:SecureTransport", []string{"false"}},
		{"NumericLessThan", "k:n", []string{"60"}},
		{"StringEquals", "aws:PrincipalTag/team", []string{"red", "blue"}},
		{"StringEquals", "aws:username", []string{"alice"}},
	}
	if len(st.Conditions) != len(want) {
		t.Fatalf("conditions = %+v", st.Conditions)
	}
	for i, c := range st.Conditions {
		w := want[i]
		if c.Operator != w.Operator || c.Key != w.Key || strings.Join(c.Values, ",") != strings.Join(w.Values, ",") {
			t.Errorf("condition %d = %+v, want %+v", i, c, w)
		}
	}
}

func TestParseSizeLimit(t *testing.T) {
	base := stmt(`{"Effect":"Allow","Action":"*","Resource":"*"}`)
	pad := MaxDocumentSize - len(base)
	doc := base[:len(base)-1] + strings.Repeat(" ", pad) + "}"
	if len(doc) != MaxDocumentSize {
		t.Fatalf("test document is %d bytes", len(doc))
	}
	if _, err := Parse(doc, IdentityPolicy); err != nil {
		t.Fatalf("document of exactly %d bytes: %v", MaxDocumentSize, err)
	}
	if _, err := Parse(doc+" ", IdentityPolicy); err == nil {
		t.Fatalf("document of %d bytes accepted", MaxDocumentSize+1)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{IdentityPolicy: "IdentityPolicy", ResourcePolicy: "ResourcePolicy", 7: "Kind(7)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}
