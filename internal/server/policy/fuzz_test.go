package policy

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/postern/postern/internal/wire/jsonkeys"
)

// fuzzRequests are evaluated against every document FuzzParse accepts.
var fuzzRequests = []Request{
	{Action: "ec2-instance-connect:OpenTunnel", Resource: seedEndpoint, Principal: &Principal{ARN: "arn:aws:iam::111122223333:user/alice"},
		Context: Context{
			"ec2-instance-connect:remoteport":        {"22"},
			"ec2-instance-connect:privateipaddress":  {"10.0.1.1"},
			"ec2-instance-connect:maxtunnelduration": {"3600"},
			"aws:sourceip":                           {"2001:db8::1"},
			"aws:currenttime":                        {"2024-01-01T00:00:00Z"},
			"aws:epochtime":                          {"1704067200"},
			"aws:username":                           {"alice"},
			"aws:tagkeys":                            {"a", "b"},
			"aws:principalarn":                       {"arn:aws:iam::111122223333:user/alice"},
			"aws:securetransport":                    {"true"},
			"k:a":                                    {"x", "*", ""},
			"k:b":                                    {"aGVsbG8="},
			"k:n":                                    {"not a number"},
		}},
	{Action: "sts:AssumeRole", Resource: "*", Principal: &Principal{ARN: "arn:aws:sts::111122223333:assumed-role/r/s", Service: "ec2.amazonaws.com"}},
	{Action: "", Resource: "", Principal: nil, Context: nil},
}

func FuzzParse(f *testing.F) {
	f.Add(readTestdata(f, seedCreateFile), uint8(IdentityPolicy))
	f.Add(readTestdata(f, seedOpenFile), uint8(IdentityPolicy))
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/r"]},"Action":"sts:AssumeRole"},{"Effect":"Deny","NotPrincipal":{"Service":"ec2.amazonaws.com"},"NotAction":"s3:*","NotResource":"arn:aws:s3:::b/${aws:username, 'x'}/*"}]}`, uint8(ResourcePolicy))
	f.Add(`{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::${*}?","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":["a*","${k:a}"]},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/${aws:username}"},"Null":{"k:z":true},"DateLessThanIfExists":{"aws:CurrentTime":1893456000},"BinaryEquals":{"k:b":"aGVsbG8="}}}}`, uint8(IdentityPolicy))
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqualz":{"k:a":"x"}}}]}`, uint8(IdentityPolicy))
	f.Add(`[1,2`, uint8(0))
	f.Add("{\"Statement\" : [ {\"Effect\":\"Allow\",\"Principal\" : {\"AWS\" : [ \"arn:aws:iam::111122223333:user\\/bob\" ,\"*\"]},\"Action\":\"sts:AssumeRole\"} ]}", uint8(ResourcePolicy))
	// A repeated member must be refused, not read as its last value.
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Effect":"Allow"}]}`, uint8(IdentityPolicy))
	f.Fuzz(func(t *testing.T, doc string, kind uint8) {
		d, err := Parse(doc, Kind(kind))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Msg == "" {
				t.Fatalf("Parse error %T %q is not a non-empty *ParseError", err, err)
			}
			return
		}
		if d.Kind != Kind(kind) {
			t.Fatalf("parsed kind %v, asked for %v", d.Kind, Kind(kind))
		}
		if jsonkeys.Check([]byte(doc), false) != nil {
			t.Fatalf("accepted a document that repeats a member: %q", doc)
		}
		// MapAWSPrincipals walks every accepted document: unchanged when
		// nothing is mapped, and still a policy when every value is.
		same, err := MapAWSPrincipals(doc, func(v string) (string, error) { return v, nil })
		if err != nil || same != doc {
			t.Fatalf("MapAWSPrincipals with no change: %q, %v", same, err)
		}
		mapped, err := MapAWSPrincipals(doc, func(string) (string, error) { return "AIDAAAAAAAAAAAAAAAAAB", nil })
		if err != nil {
			t.Fatalf("MapAWSPrincipals: %v", err)
		}
		if _, err := Parse(mapped, Kind(kind)); err != nil {
			t.Fatalf("mapped document %q does not parse: %v", mapped, err)
		}
		src := []Source{{Name: "fuzz", Doc: d}}
		for _, req := range fuzzRequests {
			dec := Evaluate(src, req)
			if dec.Allowed != (dec.Effect == Allow) || (dec.Matched == nil) != (dec.Effect == ImplicitDeny) {
				t.Fatalf("inconsistent decision %+v", dec)
			}
			ms := Matches(src, req)
			if dec.Effect != ImplicitDeny && len(ms) == 0 {
				t.Fatalf("decision %v but Matches found nothing", dec)
			}
		}
	})
}

// FuzzMatch checks the glob matcher against regexp: * is .*, ? is one
// character, everything else literal, with (?i) for case folding.
func FuzzMatch(f *testing.F) {
	f.Add("arn:aws:s3:::b/*", "arn:aws:s3:::b/k", false)
	f.Add("*ab*abc", "xabyababc", false)
	f.Add("a?c*", "aéc", true)
	f.Add("EC2:Describe*", "ec2:describeinstances", true)
	f.Add("**?*", "", false)
	f.Fuzz(func(t *testing.T, pat, s string, fold bool) {
		if !utf8.ValidString(pat) || !utf8.ValidString(s) {
			return
		}
		var expr strings.Builder
		expr.WriteString("^(?s)")
		if fold {
			expr.WriteString("(?i)")
		}
		for _, r := range pat {
			switch r {
			case '*':
				expr.WriteString(".*")
			case '?':
				expr.WriteString(".")
			default:
				expr.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		expr.WriteString("$")
		re, err := regexp.Compile(expr.String())
		if err != nil {
			t.Skip()
		}
		p := compilePattern(pat, true, false)
		if got, want := p.match(s, nil, fold), re.MatchString(s); got != want {
			t.Fatalf("match(%q, %q, fold=%v) = %v, regexp says %v", pat, s, fold, got, want)
		}
	})
}
