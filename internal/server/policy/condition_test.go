package policy

import (
	"fmt"
	"testing"
)

// kv is a context for condition tests: key → values. A key mapped to an
// empty slice is present with no values.
type kv map[string][]string

func (m kv) context() Context {
	c := Context{}
	for k, v := range m {
		c.Set(k, v...)
	}
	return c
}

// condAllows reports whether an Allow * on * statement with the given
// Condition element (JSON) allows a request with ctx.
func condAllows(t *testing.T, version, cond string, ctx Context) bool {
	t.Helper()
	ver := ""
	if version != "" {
		ver = `"Version":"` + version + `",`
	}
	doc := fmt.Sprintf(`{%s"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":%s}}`, ver, cond)
	d := mustParse(t, doc, IdentityPolicy)
	return Evaluate([]Source{{Name: "p", Doc: d}}, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: ctx}).Allowed
}

// absent is a context without the key under test.
var absent = kv{"aws:other": {"x"}}

func TestConditionOperators(t *testing.T) {
	tests := []struct {
		name string
		cond string
		ctx  kv
		want bool
	}{
		// String operators.
		{"StringEquals match", `{"StringEquals":{"k:a":"x"}}`, kv{"k:a": {"x"}}, true},
		{"StringEquals case-sensitive", `{"StringEquals":{"k:a":"x"}}`, kv{"k:a": {"X"}}, false},
		{"StringEquals absent", `{"StringEquals":{"k:a":"x"}}`, absent, false},
		{"StringEquals values ORed", `{"StringEquals":{"k:a":["x","y"]}}`, kv{"k:a": {"y"}}, true},
		{"StringEquals no wildcard", `{"StringEquals":{"k:a":"a*"}}`, kv{"k:a": {"abc"}}, false},
		{"StringEquals literal star", `{"StringEquals":{"k:a":"a*"}}`, kv{"k:a": {"a*"}}, true},
		{"StringEquals key case-insensitive", `{"StringEquals":{"K:A":"x"}}`, kv{"k:a": {"x"}}, true},
		{"StringEquals multivalued request any", `{"StringEquals":{"k:a":"y"}}`, kv{"k:a": {"x", "y"}}, true},
		{"StringEquals number value", `{"StringEquals":{"k:a":22}}`, kv{"k:a": {"22"}}, true},
		{"StringEquals bool value", `{"StringEquals":{"k:a":true}}`, kv{"k:a": {"true"}}, true},
		{"StringEquals empty string", `{"StringEquals":{"k:a":""}}`, kv{"k:a": {""}}, true},
		{"StringNotEquals other", `{"StringNotEquals":{"k:a":["x","y"]}}`, kv{"k:a": {"z"}}, true},
		{"StringNotEquals one of them", `{"StringNotEquals":{"k:a":["x","y"]}}`, kv{"k:a": {"y"}}, false},
		{"StringNotEquals absent is true", `{"StringNotEquals":{"k:a":"x"}}`, absent, true},
		{"StringNotEquals multivalued request", `{"StringNotEquals":{"k:a":"y"}}`, kv{"k:a": {"x", "y"}}, false},
		{"StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase":{"k:a":"Hello"}}`, kv{"k:a": {"hELLO"}}, true},
		{"StringEqualsIgnoreCase unicode", `{"StringEqualsIgnoreCase":{"k:a":"Émile"}}`, kv{"k:a": {"éMILE"}}, true},
		{"StringEqualsIgnoreCase differs", `{"StringEqualsIgnoreCase":{"k:a":"Hello"}}`, kv{"k:a": {"Hello!"}}, false},
		{"StringEqualsIgnoreCase absent", `{"StringEqualsIgnoreCase":{"k:a":"x"}}`, absent, false},
		{"StringNotEqualsIgnoreCase same", `{"StringNotEqualsIgnoreCase":{"k:a":"x"}}`, kv{"k:a": {"X"}}, false},
		{"StringNotEqualsIgnoreCase other", `{"StringNotEqualsIgnoreCase":{"k:a":"x"}}`, kv{"k:a": {"y"}}, true},
		{"StringNotEqualsIgnoreCase absent", `{"StringNotEqualsIgnoreCase":{"k:a":"x"}}`, absent, true},
		{"StringLike star", `{"StringLike":{"k:a":"ab*"}}`, kv{"k:a": {"abc"}}, true},
		{"StringLike star empty", `{"StringLike":{"k:a":"ab*"}}`, kv{"k:a": {"ab"}}, true},
		{"StringLike question", `{"StringLike":{"k:a":"a?c"}}`, kv{"k:a": {"abc"}}, true},
		{"StringLike question one char", `{"StringLike":{"k:a":"a?c"}}`, kv{"k:a": {"abbc"}}, false},
		{"StringLike question rune", `{"StringLike":{"k:a":"a?c"}}`, kv{"k:a": {"aéc"}}, true},
		{"StringLike case-sensitive", `{"StringLike":{"k:a":"AB*"}}`, kv{"k:a": {"abc"}}, false},
		{"StringLike middle stars", `{"StringLike":{"k:a":"*/docs/*"}}`, kv{"k:a": {"home/alice/docs/x.txt"}}, true},
		{"StringLike backtrack", `{"StringLike":{"k:a":"*ab*abc"}}`, kv{"k:a": {"xabyababc"}}, true},
		{"StringLike anchored end", `{"StringLike":{"k:a":"*.txt"}}`, kv{"k:a": {"a.txt.bak"}}, false},
		{"StringLike absent", `{"StringLike":{"k:a":"*"}}`, absent, false},
		{"StringNotLike other", `{"StringNotLike":{"k:a":"ab*"}}`, kv{"k:a": {"xyz"}}, true},
		{"StringNotLike like", `{"StringNotLike":{"k:a":"ab*"}}`, kv{"k:a": {"abc"}}, false},
		{"StringNotLike absent", `{"StringNotLike":{"k:a":"ab*"}}`, absent, true},
		{"StringEqualsIfExists absent", `{"StringEqualsIfExists":{"k:a":"x"}}`, absent, true},
		{"StringEqualsIfExists present", `{"StringEqualsIfExists":{"k:a":"x"}}`, kv{"k:a": {"y"}}, false},
		{"StringEqualsIfExists match", `{"StringEqualsIfExists":{"k:a":"x"}}`, kv{"k:a": {"x"}}, true},
		{"StringNotEqualsIfExists absent", `{"StringNotEqualsIfExists":{"k:a":"x"}}`, absent, true},
		{"StringNotEqualsIfExists equal", `{"StringNotEqualsIfExists":{"k:a":"x"}}`, kv{"k:a": {"x"}}, false},
		{"StringLikeIfExists absent", `{"StringLikeIfExists":{"k:a":"x*"}}`, absent, true},
		{"operator name case-insensitive", `{"stringequals":{"k:a":"x"}}`, kv{"k:a": {"x"}}, true},

		// Numeric operators.
		{"NumericEquals string", `{"NumericEquals":{"k:n":"22"}}`, kv{"k:n": {"22"}}, true},
		{"NumericEquals number", `{"NumericEquals":{"k:n":22}}`, kv{"k:n": {"22"}}, true},
		{"NumericEquals float form", `{"NumericEquals":{"k:n":"22"}}`, kv{"k:n": {"22.0"}}, true},
		{"NumericEquals exponent", `{"NumericEquals":{"k:n":2.2e1}}`, kv{"k:n": {"22"}}, true},
		{"NumericEquals differs", `{"NumericEquals":{"k:n":"22"}}`, kv{"k:n": {"23"}}, false},
		{"NumericEquals exact int64", `{"NumericEquals":{"k:n":"9007199254740993"}}`, kv{"k:n": {"9007199254740992"}}, false},
		{"NumericEquals not a number", `{"NumericEquals":{"k:n":"22"}}`, kv{"k:n": {"twenty-two"}}, false},
		{"NumericEquals absent", `{"NumericEquals":{"k:n":"22"}}`, absent, false},
		{"NumericEquals ORed", `{"NumericEquals":{"k:n":["22","3389"]}}`, kv{"k:n": {"3389"}}, true},
		{"NumericNotEquals other", `{"NumericNotEquals":{"k:n":"22"}}`, kv{"k:n": {"23"}}, true},
		{"NumericNotEquals same", `{"NumericNotEquals":{"k:n":"22"}}`, kv{"k:n": {"22"}}, false},
		{"NumericNotEquals none of them", `{"NumericNotEquals":{"k:n":["22","3389"]}}`, kv{"k:n": {"3389"}}, false},
		{"NumericNotEquals absent", `{"NumericNotEquals":{"k:n":"22"}}`, absent, true},
		{"NumericLessThan below", `{"NumericLessThan":{"k:n":"60"}}`, kv{"k:n": {"59"}}, true},
		{"NumericLessThan equal", `{"NumericLessThan":{"k:n":"60"}}`, kv{"k:n": {"60"}}, false},
		{"NumericLessThan negative float", `{"NumericLessThan":{"k:n":"-1.5"}}`, kv{"k:n": {"-2"}}, true},
		{"NumericLessThanEquals equal", `{"NumericLessThanEquals":{"k:n":"60"}}`, kv{"k:n": {"60"}}, true},
		{"NumericLessThanEquals above", `{"NumericLessThanEquals":{"k:n":"60"}}`, kv{"k:n": {"61"}}, false},
		{"NumericGreaterThan above", `{"NumericGreaterThan":{"k:n":"10"}}`, kv{"k:n": {"11"}}, true},
		{"NumericGreaterThan equal", `{"NumericGreaterThan":{"k:n":"10"}}`, kv{"k:n": {"10"}}, false},
		{"NumericGreaterThanEquals equal", `{"NumericGreaterThanEquals":{"k:n":"10"}}`, kv{"k:n": {"10"}}, true},
		{"NumericGreaterThanEquals below", `{"NumericGreaterThanEquals":{"k:n":"10"}}`, kv{"k:n": {"9.99"}}, false},
		{"NumericLessThanIfExists absent", `{"NumericLessThanIfExists":{"k:n":"10"}}`, absent, true},
		{"NumericLessThanIfExists present", `{"NumericLessThanIfExists":{"k:n":"10"}}`, kv{"k:n": {"11"}}, false},

		// Date operators.
		{"DateGreaterThan", `{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, kv{"aws:CurrentTime": {"2024-05-01T12:00:00Z"}}, true},
		{"DateGreaterThan earlier", `{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, kv{"aws:CurrentTime": {"2019-05-01T12:00:00Z"}}, false},
		{"DateLessThan", `{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, kv{"aws:CurrentTime": {"2019-12-31T23:59:59Z"}}, true},
		{"DateLessThan equal", `{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, kv{"aws:CurrentTime": {"2020-01-01T00:00:00Z"}}, false},
		{"DateLessThanEquals equal", `{"DateLessThanEquals":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, kv{"aws:CurrentTime": {"2020-01-01T00:00:00Z"}}, true},
		{"DateGreaterThanEquals equal", `{"DateGreaterThanEquals":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, kv{"aws:CurrentTime": {"2020-01-01T00:00:00Z"}}, true},
		{"DateEquals epoch request", `{"DateEquals":{"aws:EpochTime":"2020-01-01T00:00:00Z"}}`, kv{"aws:EpochTime": {"1577836800"}}, true},
		{"DateEquals epoch policy number", `{"DateEquals":{"aws:CurrentTime":1577836800}}`, kv{"aws:CurrentTime": {"2020-01-01T00:00:00Z"}}, true},
		{"DateEquals date only", `{"DateEquals":{"aws:CurrentTime":"2020-01-01"}}`, kv{"aws:CurrentTime": {"2020-01-01T00:00:00Z"}}, true},
		{"DateEquals offset", `{"DateEquals":{"aws:CurrentTime":"2020-01-01T01:00:00+01:00"}}`, kv{"aws:CurrentTime": {"2020-01-01T00:00:00Z"}}, true},
		{"DateEquals basic format", `{"DateEquals":{"aws:CurrentTime":"20200101T000000Z"}}`, kv{"aws:CurrentTime": {"2020-01-01T00:00:00Z"}}, true},
		{"DateGreaterThan fraction", `{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, kv{"aws:CurrentTime": {"2020-01-01T00:00:00.5Z"}}, true},
		{"DateLessThan bad request value", `{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, kv{"aws:CurrentTime": {"yesterday"}}, false},
		{"DateNotEquals other", `{"DateNotEquals":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, kv{"aws:CurrentTime": {"2021-01-01T00:00:00Z"}}, true},
		{"DateNotEquals same", `{"DateNotEquals":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, kv{"aws:CurrentTime": {"1577836800"}}, false},
		{"DateNotEquals absent", `{"DateNotEquals":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, absent, true},
		{"DateLessThan absent", `{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, absent, false},
		{"DateLessThanIfExists absent", `{"DateLessThanIfExists":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, absent, true},

		// Bool.
		{"Bool true", `{"Bool":{"aws:SecureTransport":"true"}}`, kv{"aws:SecureTransport": {"true"}}, true},
		{"Bool JSON true", `{"Bool":{"aws:SecureTransport":true}}`, kv{"aws:SecureTransport": {"true"}}, true},
		{"Bool case", `{"Bool":{"aws:SecureTransport":"true"}}`, kv{"aws:SecureTransport": {"TRUE"}}, true},
		{"Bool false", `{"Bool":{"aws:SecureTransport":"true"}}`, kv{"aws:SecureTransport": {"false"}}, false},
		{"Bool absent", `{"Bool":{"aws:SecureTransport":"false"}}`, absent, false},
		{"BoolIfExists absent", `{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}`, absent, true},
		{"BoolIfExists false", `{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}`, kv{"aws:MultiFactorAuthPresent": {"false"}}, false},

		// BinaryEquals: the request value is base64 like the policy's.
		{"BinaryEquals", `{"BinaryEquals":{"k:b":"aGVsbG8="}}`, kv{"k:b": {"aGVsbG8="}}, true},
		{"BinaryEquals differs", `{"BinaryEquals":{"k:b":"aGVsbG8="}}`, kv{"k:b": {"d29ybGQ="}}, false},
		{"BinaryEquals not base64", `{"BinaryEquals":{"k:b":"aGVsbG8="}}`, kv{"k:b": {"hello"}}, false},
		{"BinaryEquals absent", `{"BinaryEquals":{"k:b":"aGVsbG8="}}`, absent, false},
		{"BinaryEqualsIfExists absent", `{"BinaryEqualsIfExists":{"k:b":"aGVsbG8="}}`, absent, true},

		// IP addresses.
		{"IpAddress in CIDR", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, kv{"aws:SourceIp": {"203.0.113.7"}}, true},
		{"IpAddress outside", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, kv{"aws:SourceIp": {"203.0.114.1"}}, false},
		{"IpAddress single", `{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, kv{"aws:SourceIp": {"203.0.113.7"}}, true},
		{"IpAddress single other", `{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, kv{"aws:SourceIp": {"203.0.113.8"}}, false},
		{"IpAddress host bits ignored", `{"IpAddress":{"aws:SourceIp":"10.0.1.1/24"}}`, kv{"aws:SourceIp": {"10.0.1.200"}}, true},
		{"IpAddress list", `{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]}}`, kv{"aws:SourceIp": {"203.0.113.7"}}, true},
		{"IpAddress IPv6", `{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, kv{"aws:SourceIp": {"2001:db8::1"}}, true},
		{"IpAddress IPv6 outside", `{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, kv{"aws:SourceIp": {"2001:db9::1"}}, false},
		{"IpAddress v4 policy v6 request", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, kv{"aws:SourceIp": {"2001:db8::1"}}, false},
		{"IpAddress mapped request", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, kv{"aws:SourceIp": {"::ffff:203.0.113.7"}}, true},
		{"IpAddress request CIDR inside", `{"IpAddress":{"k:ip":"10.0.0.0/16"}}`, kv{"k:ip": {"10.0.1.0/24"}}, true},
		{"IpAddress request CIDR wider", `{"IpAddress":{"k:ip":"10.0.0.0/16"}}`, kv{"k:ip": {"10.0.0.0/8"}}, false},
		{"IpAddress not an address", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, kv{"aws:SourceIp": {"localhost"}}, false},
		{"IpAddress absent", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, absent, false},
		{"IpAddressIfExists absent", `{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`, absent, true},
		{"NotIpAddress outside", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, kv{"aws:SourceIp": {"192.168.1.1"}}, true},
		{"NotIpAddress inside", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, kv{"aws:SourceIp": {"10.1.1.1"}}, false},
		{"NotIpAddress in one of them", `{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}`, kv{"aws:SourceIp": {"192.168.1.1"}}, false},
		{"NotIpAddress absent", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, absent, true},
		{"NotIpAddressIfExists absent", `{"NotIpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`, absent, true},

		// ARN operators: each of the six components matched on its own.
		{"ArnLike", `{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::bucket-*"}}`, kv{"aws:SourceArn": {"arn:aws:s3:::bucket-a"}}, true},
		{"ArnEquals wildcards", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/*"}}`, kv{"aws:PrincipalArn": {"arn:aws:iam::123456789012:role/x"}}, true},
		{"ArnLike region star", `{"ArnLike":{"aws:SourceArn":"arn:aws:ec2:*:123456789012:instance/*"}}`, kv{"aws:SourceArn": {"arn:aws:ec2:us-east-1:123456789012:instance/i-1"}}, true},
		{"ArnLike other account", `{"ArnLike":{"aws:SourceArn":"arn:aws:ec2:*:123456789012:instance/*"}}`, kv{"aws:SourceArn": {"arn:aws:ec2:us-east-1:999999999999:instance/i-1"}}, false},
		{"ArnLike star stays in its component", `{"ArnLike":{"aws:SourceArn":"arn:aws:ec2:*:123456789012:instance/x"}}`, kv{"aws:SourceArn": {"arn:aws:ec2:us-east-1:999999999999:123456789012:instance/x"}}, false},
		{"ArnLike resource with colons", `{"ArnLike":{"aws:SourceArn":"arn:aws:logs:*:*:log-group:*"}}`, kv{"aws:SourceArn": {"arn:aws:logs:us-east-1:123456789012:log-group:app:*"}}, true},
		{"ArnLike case-sensitive", `{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::Bucket"}}`, kv{"aws:SourceArn": {"arn:aws:s3:::bucket"}}, false},
		{"ArnLike not an ARN", `{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, kv{"aws:SourceArn": {"bucket"}}, false},
		{"ArnLike absent", `{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, absent, false},
		{"ArnNotLike other", `{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::a*"}}`, kv{"aws:SourceArn": {"arn:aws:s3:::b"}}, true},
		{"ArnNotLike like", `{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::a*"}}`, kv{"aws:SourceArn": {"arn:aws:s3:::abc"}}, false},
		{"ArnNotLike not an ARN", `{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, kv{"aws:SourceArn": {"bucket"}}, true},
		{"ArnNotLike absent", `{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::a*"}}`, absent, true},
		{"ArnNotEquals same", `{"ArnNotEquals":{"aws:SourceArn":"arn:aws:s3:::a"}}`, kv{"aws:SourceArn": {"arn:aws:s3:::a"}}, false},
		{"ArnNotEquals absent", `{"ArnNotEquals":{"aws:SourceArn":"arn:aws:s3:::a"}}`, absent, true},
		{"ArnLikeIfExists absent", `{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:s3:::a"}}`, absent, true},
		{"ArnLike short value whole glob", `{"ArnLike":{"aws:SourceArn":"arn:aws:*"}}`, kv{"aws:SourceArn": {"arn:aws:s3:::a"}}, true},

		// Null.
		{"Null true absent", `{"Null":{"aws:TokenIssueTime":"true"}}`, absent, true},
		{"Null true present", `{"Null":{"aws:TokenIssueTime":"true"}}`, kv{"aws:TokenIssueTime": {"2024-01-01T00:00:00Z"}}, false},
		{"Null false present", `{"Null":{"aws:TokenIssueTime":"false"}}`, kv{"aws:TokenIssueTime": {"2024-01-01T00:00:00Z"}}, true},
		{"Null false absent", `{"Null":{"aws:TokenIssueTime":"false"}}`, absent, false},
		{"Null JSON bool", `{"Null":{"aws:TokenIssueTime":true}}`, absent, true},
		{"Null empty value list is absent", `{"Null":{"aws:TagKeys":"true"}}`, kv{"aws:TagKeys": {}}, true},
		{"Null both", `{"Null":{"k:a":["true","false"]}}`, kv{"k:a": {"x"}}, true},

		// Set operators.
		{"ForAnyValue one matches", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, kv{"aws:TagKeys": {"c", "a"}}, true},
		{"ForAnyValue none", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, kv{"aws:TagKeys": {"c"}}, false},
		{"ForAnyValue absent", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, absent, false},
		{"ForAnyValue empty", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, kv{"aws:TagKeys": {}}, false},
		{"ForAnyValue IfExists absent", `{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"a"}}`, absent, true},
		{"ForAnyValue StringNotEquals one other", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"a"}}`, kv{"aws:TagKeys": {"a", "b"}}, true},
		{"ForAnyValue StringNotEquals all listed", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"a"}}`, kv{"aws:TagKeys": {"a"}}, false},
		{"ForAnyValue StringNotEquals absent", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"a"}}`, absent, false},
		{"ForAllValues all listed", `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, kv{"aws:TagKeys": {"b", "a"}}, true},
		{"ForAllValues one unlisted", `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, kv{"aws:TagKeys": {"a", "c"}}, false},
		{"ForAllValues absent", `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, absent, true},
		{"ForAllValues empty", `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, kv{"aws:TagKeys": {}}, true},
		{"ForAllValues StringLike", `{"ForAllValues:StringLike":{"aws:TagKeys":"team-*"}}`, kv{"aws:TagKeys": {"team-a", "team-b"}}, true},
		{"ForAllValues StringNotEquals none listed", `{"ForAllValues:StringNotEquals":{"aws:TagKeys":["Project"]}}`, kv{"aws:TagKeys": {"Owner", "Env"}}, true},
		{"ForAllValues StringNotEquals one listed", `{"ForAllValues:StringNotEquals":{"aws:TagKeys":["Project"]}}`, kv{"aws:TagKeys": {"Owner", "Project"}}, false},
		{"ForAllValues StringNotEquals absent", `{"ForAllValues:StringNotEquals":{"aws:TagKeys":["Project"]}}`, absent, true},
		{"ForAllValues NumericLessThan", `{"ForAllValues:NumericLessThan":{"k:n":"10"}}`, kv{"k:n": {"1", "5"}}, true},
		{"ForAllValues NumericLessThan one above", `{"ForAllValues:NumericLessThan":{"k:n":"10"}}`, kv{"k:n": {"1", "11"}}, false},
		{"qualifier case-insensitive", `{"forallvalues:stringequals":{"aws:TagKeys":"a"}}`, kv{"aws:TagKeys": {"a"}}, true},

		// Several keys, several operators: all must hold.
		{"two keys both", `{"StringEquals":{"k:a":"1","k:b":"2"}}`, kv{"k:a": {"1"}, "k:b": {"2"}}, true},
		{"two keys one", `{"StringEquals":{"k:a":"1","k:b":"2"}}`, kv{"k:a": {"1"}}, false},
		{"two operators both", `{"StringEquals":{"k:a":"1"},"NumericLessThan":{"k:n":"5"}}`, kv{"k:a": {"1"}, "k:n": {"3"}}, true},
		{"two operators one", `{"StringEquals":{"k:a":"1"},"NumericLessThan":{"k:n":"5"}}`, kv{"k:a": {"1"}, "k:n": {"7"}}, false},
		{"empty condition", `{}`, absent, true},
		{"empty operator", `{"StringEquals":{}}`, absent, true},
		{"empty value list", `{"StringEquals":{"k:a":[]}}`, kv{"k:a": {"x"}}, false},
		{"empty value list negated", `{"StringNotEquals":{"k:a":[]}}`, kv{"k:a": {"x"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := condAllows(t, Version2012, tt.cond, tt.ctx.context()); got != tt.want {
				t.Fatalf("%s with %v: allowed = %v, want %v", tt.cond, tt.ctx, got, tt.want)
			}
		})
	}
}

func TestConditionVariables(t *testing.T) {
	tests := []struct {
		name    string
		version string
		cond    string
		ctx     kv
		want    bool
	}{
		{"present", Version2012, `{"StringEquals":{"k:owner":"${aws:username}"}}`, kv{"aws:username": {"alice"}, "k:owner": {"alice"}}, true},
		{"present differs", Version2012, `{"StringEquals":{"k:owner":"${aws:username}"}}`, kv{"aws:username": {"alice"}, "k:owner": {"bob"}}, false},
		{"absent no match", Version2012, `{"StringEquals":{"k:owner":"${aws:username}"}}`, kv{"k:owner": {""}}, false},
		{"absent negated matches", Version2012, `{"StringNotEquals":{"k:team":"${aws:PrincipalTag/Team}"}}`, kv{"k:team": {"red"}}, true},
		{"absent like", Version2012, `{"StringLike":{"s3:prefix":"${aws:username}/*"}}`, kv{"s3:prefix": {"/x"}}, false},
		{"like prefix", Version2012, `{"StringLike":{"s3:prefix":"${aws:username}/*"}}`, kv{"aws:username": {"alice"}, "s3:prefix": {"alice/docs/a"}}, true},
		{"like other user", Version2012, `{"StringLike":{"s3:prefix":"${aws:username}/*"}}`, kv{"aws:username": {"alice"}, "s3:prefix": {"bob/a"}}, false},
		{"key case-insensitive", Version2012, `{"StringEquals":{"k:a":"${AWS:UserName}"}}`, kv{"aws:username": {"alice"}, "k:a": {"alice"}}, true},
		{"default used", Version2012, `{"StringEquals":{"k:a":"${aws:PrincipalTag/team, 'none'}"}}`, kv{"k:a": {"none"}}, true},
		{"default not used", Version2012, `{"StringEquals":{"k:a":"${aws:PrincipalTag/team, 'none'}"}}`, kv{"aws:PrincipalTag/team": {"red"}, "k:a": {"none"}}, false},
		{"default spaces", Version2012, `{"StringEquals":{"k:a":"x-${ aws:username , 'anon' }"}}`, kv{"k:a": {"x-anon"}}, true},
		{"default quote", Version2012, `{"StringEquals":{"k:a":"${k:x, 'it''s'}"}}`, kv{"k:a": {"it's"}}, true},
		{"default empty", Version2012, `{"StringEquals":{"k:a":"a${k:x, ''}b"}}`, kv{"k:a": {"ab"}}, true},
		{"multivalued key has no value", Version2012, `{"StringEquals":{"k:a":"${k:v}"}}`, kv{"k:v": {"x", "y"}, "k:a": {"x"}}, false},
		{"substituted star is literal", Version2012, `{"StringLike":{"k:a":"${k:v}"}}`, kv{"k:v": {"*"}, "k:a": {"anything"}}, false},
		{"substituted star equals star", Version2012, `{"StringLike":{"k:a":"${k:v}"}}`, kv{"k:v": {"*"}, "k:a": {"*"}}, true},
		{"escape star", Version2012, `{"StringLike":{"k:a":"a${*}b"}}`, kv{"k:a": {"a*b"}}, true},
		{"escape star literal", Version2012, `{"StringLike":{"k:a":"a${*}b"}}`, kv{"k:a": {"axb"}}, false},
		{"escape question", Version2012, `{"StringLike":{"k:a":"a${?}"}}`, kv{"k:a": {"a?"}}, true},
		{"escape question literal", Version2012, `{"StringLike":{"k:a":"a${?}"}}`, kv{"k:a": {"ab"}}, false},
		{"escape dollar", Version2012, `{"StringEquals":{"k:a":"${$}{x}"}}`, kv{"k:a": {"${x}"}}, true},
		{"unclosed is literal", Version2012, `{"StringEquals":{"k:a":"${aws:username"}}`, kv{"aws:username": {"alice"}, "k:a": {"${aws:username"}}, true},
		{"ignore case with variable", Version2012, `{"StringEqualsIgnoreCase":{"k:a":"${aws:username}"}}`, kv{"aws:username": {"Alice"}, "k:a": {"ALICE"}}, true},
		{"arn with variable", Version2012, `{"ArnLike":{"aws:SourceArn":"arn:aws:iam::123456789012:user/${aws:username}"}}`, kv{"aws:username": {"alice"}, "aws:SourceArn": {"arn:aws:iam::123456789012:user/alice"}}, true},
		{"arn with variable absent", Version2012, `{"ArnLike":{"aws:SourceArn":"arn:aws:iam::123456789012:user/${aws:username}"}}`, kv{"aws:SourceArn": {"arn:aws:iam::123456789012:user/alice"}}, false},
		{"arn not like variable absent", Version2012, `{"ArnNotLike":{"aws:SourceArn":"arn:aws:iam::123456789012:user/${aws:username}"}}`, kv{"aws:SourceArn": {"arn:aws:iam::123456789012:user/alice"}}, true},
		{"2008 not substituted", Version2008, `{"StringEquals":{"k:a":"${aws:username}"}}`, kv{"aws:username": {"alice"}, "k:a": {"alice"}}, false},
		{"2008 literal", Version2008, `{"StringEquals":{"k:a":"${aws:username}"}}`, kv{"aws:username": {"alice"}, "k:a": {"${aws:username}"}}, true},
		{"no version literal", "", `{"StringEquals":{"k:a":"${aws:username}"}}`, kv{"aws:username": {"alice"}, "k:a": {"${aws:username}"}}, true},
		{"no version escape is text and wildcard", "", `{"StringLike":{"k:a":"${*}"}}`, kv{"k:a": {"${anything}"}}, true},
		{"no version escape not applied", "", `{"StringLike":{"k:a":"${*}"}}`, kv{"k:a": {"anything"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := condAllows(t, tt.version, tt.cond, tt.ctx.context()); got != tt.want {
				t.Fatalf("%s with %v: allowed = %v, want %v", tt.cond, tt.ctx, got, tt.want)
			}
		})
	}
}
