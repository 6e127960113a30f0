//go:build !postern_client

package cli_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// tc20Strings are strings JSON writers disagree on: HTML characters,
// U+2028 and U+2029 (Go's encoding/json escapes them, Python's json.dumps
// does not), control characters (named or \u00XX), DEL, quotes and
// backslashes, non-ASCII and non-BMP characters, noncharacters, the
// empty string, and words the text layout prints for values (None).
var tc20Strings = []string{
	"<a>&b", "a\u2028b\u2029c", "\x00\x01\x08\x0c\x1f\x7f", "\b\f\n\r\t\"\\/", "😀é日本", "\u0085\ufeff\u00a0",
	"\ud7ff\ue000\ufffd\uffff", "None", "True", "", " ", "a\tb", "a\nb", "\U0010ffff", "</script>", `\u2028`,
}

// outputAsAWSCLI runs args with postern and /usr/bin/aws (awsEnv) and
// says where their standard outputs differ.
func outputAsAWSCLI(t *testing.T, awsEnv []string, args ...string) {
	t.Helper()
	cmd := exec.Command(awsBin, args...)
	cmd.Env = awsEnv
	var awsErr bytes.Buffer
	cmd.Stderr = &awsErr
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws %q: %v: %s", args, err, awsErr.Bytes())
	}
	code, got, stderr := runCLI(args...)
	if code != 0 {
		t.Fatalf("postern %q: exit %d: %s", args, code, stderr)
	}
	if got != string(want) {
		gl, wl := strings.SplitAfter(got, "\n"), strings.SplitAfter(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Errorf("line %d: postern %q, the AWS CLI %q", i+1, gl[i], wl[i])
				break
			}
		}
		t.Errorf("postern prints\n%q\nthe AWS CLI\n%q", got, want)
	}
}

// TestTC20JSONAndTextAsAWSCLI: --output json writes strings as the AWS
// CLI's json.dumps(ensure_ascii=False) does, and --output text prints
// them as Python's str(), byte for byte with /usr/bin/aws on the same
// server: tc20Strings as list items, map values, map keys, in lists of
// maps, a scalar result; numbers, null, booleans, empty maps and lists;
// and the same strings stored in the server (a VPC's tags and a security
// group's description) as describe-vpcs and describe-security-groups
// print them. Before, postern's JSON escaped U+2028 and U+2029
// ("a\u2028b" where the AWS CLI writes the character) and a key's '<',
// '>' and '&' (as \u003c, \u003e, \u0026).
func TestTC20JSONAndTextAsAWSCLI(t *testing.T) {
	_, awsEnv, common := awsCLIBeside(t)
	// A JMESPath JSON literal (`...`, jmesLiteral) carries any string; a quoted
	// identifier (jmesText) any key but the empty one.
	var items, values []string
	for i, s := range tc20Strings {
		items = append(items, jmesLiteral(t, s))
		key := "k" + string(rune('a'+i))
		if s != "" {
			key = s
		}
		values = append(values, jmesText(t, key)+": "+jmesLiteral(t, s))
	}
	all := "{items: [" + strings.Join(items, ", ") + "], values: {" + strings.Join(values, ", ") + "}," +
		" maplist: [{" + strings.Join(values, ", ") + "}, {a: `\"x\"`}], nested: [{b: [" + strings.Join(items[:4], ", ") + "]}]," +
		" e: `{}`, l: `[]`, n: `null`, t: `true`, f: `false`, x: `1.5`, i: `12345678901234567890`, g: `1e300`, h: `0.0001`," +
		" j: `-0.0`, k: `1e16`, m: `-7`, w: `2.0`, o: `[[1, \"a\"], [], [[null]]]`}"
	for _, format := range []string{"json", "text"} {
		for _, q := range []struct{ name, query string }{
			{"all", all},
			{"root", jmesLiteral(t, "a<\u2028\x01\"")},
			{"rootnull", "`null`"},
			{"rootempty", "`{}`"},
			{"rootlist", "`[]`"},
		} {
			t.Run(format+"/"+q.name, func(t *testing.T) {
				outputAsAWSCLI(t, awsEnv, append(common, "sts", "get-caller-identity", "--output", format, "--query", q.query)...)
			})
		}
	}

	// The same strings kept by the server, where its API takes them: XML
	// carries no control characters but tab, line feed and carriage
	// return (which XML turns into a line feed), so those are left out.
	var tags []map[string]string
	for i, s := range tc20Strings {
		if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' || r == '\ufffe' || r == '\uffff' }) {
			continue
		}
		tags = append(tags, map[string]string{"Key": "k" + string(rune('a'+i)) + s, "Value": s})
	}
	spec, err := json.Marshal([]any{map[string]any{"ResourceType": "vpc", "Tags": tags}})
	if err != nil {
		t.Fatal(err)
	}
	code, vpcOut, stderr := runCLI(append(common, "ec2", "create-vpc", "--cidr-block", "10.62.0.0/16", "--tag-specifications", string(spec),
		"--query", "Vpc.VpcId", "--output", "text")...)
	if code != 0 {
		t.Fatalf("create-vpc: exit %d: %s", code, stderr)
	}
	vpc := strings.TrimSpace(vpcOut)
	// A policy document: the AWS CLI prints it as the JSON object it
	// decodes, numbers and all.
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:DescribeVpcs"],"Resource":"*",` +
		`"Condition":{"StringEquals":{"aws:PrincipalTag/t":["<a>&b","a\u2028b","😀é日本","\"q\" \\ /","None",""]},` +
		`"NumericLessThan":{"aws:MultiFactorAuthAge":3600,"aws:EpochTime":1.0e10,"ec2:Max":-0.0}}}]}`
	code, arn, stderr := runCLI(append(common, "iam", "create-policy", "--policy-name", "tc20", "--policy-document", doc,
		"--query", "Policy.Arn", "--output", "text")...)
	if code != 0 {
		t.Fatalf("create-policy: exit %d: %s", code, stderr)
	}
	arn = strings.TrimSpace(arn)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Sid":"","Condition":{"Bool":{"aws:MultiFactorAuthPresent":true}}}]}`
	for _, args := range [][]string{
		{"iam", "create-role", "--role-name", "tc20", "--assume-role-policy-document", trust},
		{"iam", "create-user", "--user-name", "tc20"},
		{"iam", "put-user-policy", "--user-name", "tc20", "--policy-name", "p", "--policy-document", doc},
	} {
		if code, _, stderr := runCLI(append(common, args...)...); code != 0 {
			t.Fatalf("%s: exit %d: %s", args[1], code, stderr)
		}
	}
	for _, c := range []struct {
		formats string
		args    []string
	}{
		// The AWS CLI 2.9.19's model orders a VPC's members otherwise
		// (and lacks some): its tags, then.
		{"json text", []string{"ec2", "describe-vpcs", "--vpc-ids", vpc, "--query", "Vpcs[].Tags"}},
		{"json text yaml", []string{"iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v1"}},
		{"json", []string{"iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v1", "--query", "PolicyVersion.Document.Statement[0].Condition"}},
		{"json text", []string{"iam", "get-user-policy", "--user-name", "tc20", "--policy-name", "p"}},
		{"json", []string{"iam", "get-role", "--role-name", "tc20", "--query", "Role.AssumeRolePolicyDocument"}},
		// (The AWS CLI's text layout fails on this one: 'str' object has
		// no attribute 'items'.)
		{"json", []string{"iam", "list-roles", "--query", "Roles[?RoleName=='tc20'].[AssumeRolePolicyDocument, RoleName]"}},
	} {
		for _, format := range strings.Fields(c.formats) {
			t.Run(format+"/"+c.args[1], func(t *testing.T) {
				outputAsAWSCLI(t, awsEnv, append(append(common, c.args...), "--output", format)...)
			})
		}
	}
}
