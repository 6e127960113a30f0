package ec2api

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
	"github.com/postern/postern/internal/wire/awsproto"
)

func params(q string) awsproto.Params {
	v, err := url.ParseQuery(q)
	if err != nil {
		panic(err)
	}
	return awsproto.Params(v)
}

func codeOf(err error) string {
	var e *awsproto.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return "non-AWS error"
	}
	return ""
}

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		in               string
		family, min, max int
		want             string
		err              error
	}{
		{"10.0.0.0/16", 4, 16, 28, "10.0.0.0/16", nil},
		{"10.0.0.0/28", 4, 16, 28, "10.0.0.0/28", nil},
		{"10.0.0.0/8", 4, 16, 28, "", errPrefixLen},
		{"10.0.0.0/29", 4, 16, 28, "", errPrefixLen},
		{"10.0.0.1/16", 4, 16, 28, "", errHostBits},
		{"10.0.0.0", 4, 16, 28, "", errNotCIDR},
		{"10.0.0.0/33", 4, 0, 32, "", errNotCIDR},
		{"bogus", 4, 0, 32, "", errNotCIDR},
		{"", 4, 0, 32, "", errNotCIDR},
		{"2600:1f18::/56", 4, 16, 28, "", errWrongFamily},
		{"::ffff:10.0.0.0/112", 4, 0, 128, "", errWrongFamily},
		{"10.0.0.0/16", 6, 44, 64, "", errWrongFamily},
		{"2600:1F18:AAAA:BB00::/56", 6, 44, 64, "2600:1f18:aaaa:bb00::/56", nil},
		{"2600:1f18:aaaa:bb01::/64", 6, 64, 64, "2600:1f18:aaaa:bb01::/64", nil},
		{"2600:1f18:aaaa:bb01::1/64", 6, 64, 64, "", errHostBits},
		{"fe80::%eth0/64", 6, 0, 128, "", errNotCIDR},
		{"0.0.0.0/0", 4, 0, 32, "0.0.0.0/0", nil},
		{"::/0", 6, 0, 128, "::/0", nil},
	}
	for _, tc := range tests {
		p, err := parseCIDR(tc.in, tc.family, tc.min, tc.max)
		if !errors.Is(err, tc.err) {
			t.Errorf("parseCIDR(%q) error = %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && p.String() != tc.want {
			t.Errorf("parseCIDR(%q) = %s, want %s", tc.in, p, tc.want)
		}
	}
}

func TestContainsAndOverlap(t *testing.T) {
	vpc := mustPrefix("10.0.0.0/16")
	if !containsPrefix(vpc, mustPrefix("10.0.1.0/24")) || !containsPrefix(vpc, vpc) {
		t.Error("containment")
	}
	if containsPrefix(vpc, mustPrefix("10.1.0.0/24")) || containsPrefix(mustPrefix("10.0.1.0/24"), vpc) {
		t.Error("non-containment")
	}
	if !mustPrefix("10.0.1.0/24").Overlaps(mustPrefix("10.0.1.128/25")) || mustPrefix("10.0.1.0/24").Overlaps(mustPrefix("10.0.2.0/24")) {
		t.Error("overlap")
	}
	if mustPrefix("").IsValid() || mustPrefix("junk").IsValid() {
		t.Error("invalid stored CIDRs must give the zero prefix")
	}
	if usableIPv4Count("10.0.1.0/24") != 251 || usableIPv4Count("10.0.0.0/28") != 11 || usableIPv4Count("") != 0 {
		t.Error("usableIPv4Count")
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"?", "é", true},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{`a\?`, "a?", true},
		{"web-*", "web-1", true},
		{"*-complete", "create-complete", true},
		{"Create-complete", "create-complete", false},
		{"**a", "bba", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{`\`, `\`, true},
	}
	for _, tc := range tests {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestParseFilters(t *testing.T) {
	spec := newFilterSpec(true, "vpc-id", "state")
	f, err := parseFilters(params("Filter.1.Name=state&Filter.1.Value.1=a&Filter.1.Value.2=b&Filter.2.Name=tag:Name&Filter.2.Value.1=x&Filter.4.Name=vpc-id&Filter.4.Value.1=gap"), spec)
	if err != nil {
		t.Fatal(err)
	}
	want := []reqFilter{{Name: "state", Values: []string{"a", "b"}}, {Name: "tag:Name", Values: []string{"x"}}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("filters = %+v", f)
	}
	for q, code := range map[string]string{
		"Filter.1.Name=color&Filter.1.Value.1=x": "InvalidParameterValue",
		"Filter.1.Name=tag:&Filter.1.Value.1=x":  "InvalidParameterValue",
		"Filter.1.Name=state":                    "MissingParameter",
		"Filter.1.Value.1=x":                     "MissingParameter",
	} {
		if _, err := parseFilters(params(q), spec); codeOf(err) != code {
			t.Errorf("%s: %v, want %s", q, err, code)
		}
	}
	var b strings.Builder
	b.WriteString("Filter.1.Name=state")
	for i := 1; i <= 201; i++ {
		b.WriteString("&Filter.1.Value." + itoa32(int32(i)) + "=v")
	}
	if _, err := parseFilters(params(b.String()), spec); codeOf(err) != "FilterLimitExceeded" {
		t.Errorf("201 values: %v", err)
	}
	// A filter on tags ignores other tags' values.
	tags := []store.Tag{{Key: "Name", Value: "web"}, {Key: "env", Value: "prod"}}
	values := func(name string) []string { v, _ := tagFilterValues(name, tags); return v }
	for _, tc := range []struct {
		f    reqFilter
		want bool
	}{
		{reqFilter{"tag:Name", []string{"web"}}, true},
		{reqFilter{"tag:Name", []string{"prod"}}, false},
		{reqFilter{"tag:name", []string{"web"}}, false},
		{reqFilter{"tag-key", []string{"env", "x"}}, true},
		{reqFilter{"tag-value", []string{"pr*"}}, true},
		{reqFilter{"tag:missing", []string{"*"}}, false},
	} {
		if got := matchFilters([]reqFilter{tc.f}, values); got != tc.want {
			t.Errorf("%+v = %v", tc.f, got)
		}
	}
	// Filters are ANDed, values ORed.
	multi := []reqFilter{{"tag:Name", []string{"x", "web"}}, {"tag:env", []string{"prod"}}}
	if !matchFilters(multi, values) {
		t.Error("AND of ORs")
	}
	multi[1].Values = []string{"dev"}
	if matchFilters(multi, values) {
		t.Error("AND must fail")
	}
}

func TestStructList(t *testing.T) {
	p := params("X.1.A=a1&X.1.B=b1&X.2.A=a2&X.3.=skip&X.01.A=lead&X.6.A=gap-ignored&X.3.A=a3&Y.1.A=other&X.1=scalar&X.x.A=bad")
	got := structList(p, "X")
	if len(got) != 3 || got[0].Get("A") != "a1" || got[0].Get("B") != "b1" || got[1].Get("A") != "a2" || got[2].Get("A") != "a3" {
		t.Errorf("structList = %+v", got)
	}
	if l := scalarList(params("V.1=a&V.2=b&V.4=d"), "V"); !reflect.DeepEqual(l, []string{"a", "b"}) {
		t.Errorf("scalarList = %v", l)
	}
	for s, want := range map[string]int{"1": 1, "10": 10, "0": 0, "01": 0, "+1": 0, "-1": 0, "": 0, "1234567": 0} {
		n, ok := listIndex(s)
		if (want != 0) != ok || ok && n != want {
			t.Errorf("listIndex(%q) = %d, %v", s, n, ok)
		}
	}
}

func TestParseTagSpecs(t *testing.T) {
	tags, err := parseTagSpecs(params("TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=a&TagSpecification.1.Tag.2.Key=empty"), "vpc")
	if err != nil || !reflect.DeepEqual(tags, []store.Tag{{Key: "Name", Value: "a"}, {Key: "empty"}}) {
		t.Errorf("tags = %+v, %v", tags, err)
	}
	for q, code := range map[string]string{
		"TagSpecification.1.ResourceType=subnet&TagSpecification.1.Tag.1.Key=a":                                                                 "InvalidParameterValue",
		"TagSpecification.1.Tag.1.Key=a":                                                                                                        "MissingParameter",
		"TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Value=a":                                                                  "MissingParameter",
		"TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=":                                                                     "InvalidParameterValue",
		"TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=AWS:x":                                                                "InvalidParameterValue",
		"TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=" + strings.Repeat("k", 129):                                          "InvalidParameterValue",
		"TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=a&TagSpecification.1.Tag.1.Value=" + strings.Repeat("v", 257):         "InvalidParameterValue",
		"TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=a&TagSpecification.2.ResourceType=vpc&TagSpecification.2.Tag.1.Key=a": "InvalidParameterValue",
	} {
		if _, err := parseTagSpecs(params(q), "vpc"); codeOf(err) != code {
			t.Errorf("%.60s: %v, want %s", q, err, code)
		}
	}
	var b strings.Builder
	b.WriteString("TagSpecification.1.ResourceType=vpc")
	for i := 1; i <= 51; i++ {
		b.WriteString("&TagSpecification.1.Tag." + itoa32(int32(i)) + ".Key=k" + itoa32(int32(i)))
	}
	if _, err := parseTagSpecs(params(b.String()), "vpc"); codeOf(err) != "TagLimitExceeded" {
		t.Errorf("51 tags: %v", err)
	}
}

func TestPaginationTokens(t *testing.T) {
	tok := encodeToken("DescribeVpcs", "vpc-0123")
	if last, err := decodeToken("DescribeVpcs", tok); err != nil || last != "vpc-0123" {
		t.Errorf("round trip: %q %v", last, err)
	}
	bad := []string{"", "garbage", "wirecap-1", tok + "x", "x" + tok, strings.Replace(tok, ".", "", 1),
		encodeToken("DescribeSubnets", "vpc-0123"), "." + strings.Split(tok, ".")[1], strings.Repeat("A", 3000)}
	for _, b := range bad {
		if _, err := decodeToken("DescribeVpcs", b); codeOf(err) != "InvalidPaginationToken" {
			t.Errorf("decodeToken(%.40q) = %v", b, err)
		}
	}
	// Tampering with the id breaks the checksum.
	forged := strings.Replace(tok, tok[:4], "dnBj", 1)
	if forged != tok {
		if _, err := decodeToken("DescribeVpcs", forged); err == nil {
			t.Error("forged token accepted")
		}
	}
	items := []string{"a", "b", "c", "d", "e"}
	id := func(s string) string { return s }
	page, next := paginate(items, id, pageRequest{max: 2}, "X")
	if !reflect.DeepEqual(page, []string{"a", "b"}) || next == "" {
		t.Fatalf("page 1 = %v %q", page, next)
	}
	after, _ := decodeToken("X", next)
	page, next = paginate(items, id, pageRequest{max: 2, after: after}, "X")
	if !reflect.DeepEqual(page, []string{"c", "d"}) {
		t.Fatalf("page 2 = %v", page)
	}
	after, _ = decodeToken("X", next)
	page, next = paginate(items, id, pageRequest{max: 2, after: after}, "X")
	if !reflect.DeepEqual(page, []string{"e"}) || next != "" {
		t.Errorf("page 3 = %v %q", page, next)
	}
	// The item after which a page resumed was deleted: resume after it anyway.
	page, _ = paginate([]string{"a", "c"}, id, pageRequest{after: "b"}, "X")
	if !reflect.DeepEqual(page, []string{"c"}) {
		t.Errorf("resume after deleted = %v", page)
	}
	page, next = paginate(items, id, pageRequest{max: 5}, "X")
	if len(page) != 5 || next != "" {
		t.Error("an exact last page has no token")
	}
	for q, code := range map[string]string{"MaxResults=0": "InvalidParameterValue", "MaxResults=51": "InvalidParameterValue", "MaxResults=x": "InvalidParameterValue", "NextToken=zz": "InvalidPaginationToken"} {
		if _, err := parsePage(params(q), "X", 1, 50); codeOf(err) != code {
			t.Errorf("parsePage(%s) = %v", q, err)
		}
	}
}

func TestParsePermissions(t *testing.T) {
	tests := []struct {
		name string
		q    string
		want []permission
		code string
	}{
		{
			name: "SDK UserIdGroupPairs",
			q:    "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.Groups.1.GroupId=sg-0123456789abcdef0&IpPermissions.1.Groups.1.Description=from+eice",
			want: []permission{{Protocol: "tcp", FromPort: 22, ToPort: 22, Groups: []groupPeer{{GroupID: "sg-0123456789abcdef0", Description: "from eice"}}}},
		},
		{
			// aws ec2 authorize-security-group-ingress --protocol tcp --port 22 --cidr 0.0.0.0/0
			name: "CLI --protocol --port --cidr",
			q:    "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0",
			want: []permission{{Protocol: "tcp", FromPort: 22, ToPort: 22, IPv4: []cidrPeer{{CIDR: "0.0.0.0/0"}}}},
		},
		{
			// --protocol tcp --port 22 --source-group sg-… (the CLI sends the id as GroupId)
			name: "CLI --source-group id",
			q:    "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.Groups.1.GroupId=sg-0b67d0a6b0000000a",
			want: []permission{{Protocol: "tcp", FromPort: 22, ToPort: 22, Groups: []groupPeer{{GroupID: "sg-0b67d0a6b0000000a"}}}},
		},
		{
			// --source-group my-group --group-owner 123456789012
			name: "CLI --source-group name",
			q:    "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.Groups.1.GroupName=my-group&IpPermissions.1.Groups.1.UserId=123456789012",
			want: []permission{{Protocol: "tcp", FromPort: 22, ToPort: 22, Groups: []groupPeer{{GroupName: "my-group", UserID: "123456789012"}}}},
		},
		{
			name: "CLI --protocol all --port all",
			q:    "IpPermissions.1.IpProtocol=-1&IpPermissions.1.FromPort=-1&IpPermissions.1.ToPort=-1&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0%2F8",
			want: []permission{{Protocol: "-1", FromPort: -1, ToPort: -1, IPv4: []cidrPeer{{CIDR: "10.0.0.0/8"}}}},
		},
		{
			name: "tcp all ports",
			q:    "IpPermissions.1.IpProtocol=TCP&IpPermissions.1.FromPort=-1&IpPermissions.1.ToPort=-1&IpPermissions.1.Ipv6Ranges.1.CidrIpv6=2600:1F18::%2F32",
			want: []permission{{Protocol: "tcp", FromPort: 0, ToPort: 65535, IPv6: []cidrPeer{{CIDR: "2600:1f18::/32"}}}},
		},
		{
			name: "shorthand cidr",
			q:    "IpProtocol=6&FromPort=80&ToPort=81&CidrIp=192.0.2.0%2F24",
			want: []permission{{Protocol: "tcp", FromPort: 80, ToPort: 81, IPv4: []cidrPeer{{CIDR: "192.0.2.0/24"}}}},
		},
		{
			name: "shorthand source group only",
			q:    "SourceSecurityGroupName=web&SourceSecurityGroupOwnerId=123456789012",
			want: []permission{{Protocol: "-1", FromPort: -1, ToPort: -1, Groups: []groupPeer{{GroupName: "web", UserID: "123456789012"}}}},
		},
		{
			name: "icmp",
			q:    "IpPermissions.1.IpProtocol=icmp&IpPermissions.1.FromPort=8&IpPermissions.1.ToPort=-1&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0",
			want: []permission{{Protocol: "icmp", FromPort: 8, ToPort: -1, IPv4: []cidrPeer{{CIDR: "0.0.0.0/0"}}}},
		},
		{
			name: "other protocol number ignores ports",
			q:    "IpPermissions.1.IpProtocol=47&IpPermissions.1.FromPort=5&IpPermissions.1.ToPort=6&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0",
			want: []permission{{Protocol: "47", FromPort: -1, ToPort: -1, IPv4: []cidrPeer{{CIDR: "0.0.0.0/0"}}}},
		},
		{
			name: "two permissions",
			q:    "IpPermissions.1.IpProtocol=udp&IpPermissions.1.FromPort=53&IpPermissions.1.ToPort=53&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0%2F8&IpPermissions.2.IpProtocol=all&IpPermissions.2.Groups.1.GroupId=sg-01234567",
			want: []permission{
				{Protocol: "udp", FromPort: 53, ToPort: 53, IPv4: []cidrPeer{{CIDR: "10.0.0.0/8"}}},
				{Protocol: "-1", FromPort: -1, ToPort: -1, Groups: []groupPeer{{GroupID: "sg-01234567"}}},
			},
		},
		{name: "none", q: "GroupId=sg-01234567", want: []permission{}},
		{name: "both forms", q: "CidrIp=10.0.0.0%2F8&IpPermissions.1.IpProtocol=tcp", code: "InvalidParameterCombination"},
		{name: "no protocol", q: "IpPermissions.1.FromPort=1", code: "MissingParameter"},
		{name: "shorthand without protocol", q: "CidrIp=10.0.0.0%2F8", code: "MissingParameter"},
		{name: "bad protocol", q: "IpProtocol=256&CidrIp=10.0.0.0%2F8", code: "InvalidParameterValue"},
		{name: "protocol with sign", q: "IpProtocol=%2B6&CidrIp=10.0.0.0%2F8", code: "InvalidParameterValue"},
		{name: "port out of range", q: "IpProtocol=tcp&FromPort=1&ToPort=70000&CidrIp=10.0.0.0%2F8", code: "InvalidParameterValue"},
		{name: "half all ports", q: "IpProtocol=tcp&FromPort=-1&ToPort=22&CidrIp=10.0.0.0%2F8", code: "InvalidParameterValue"},
		{name: "icmp code without type", q: "IpProtocol=icmp&FromPort=-1&ToPort=3&CidrIp=10.0.0.0%2F8", code: "InvalidParameterValue"},
		{name: "cidr host bits", q: "IpProtocol=-1&CidrIp=10.0.0.1%2F8", code: "InvalidParameterValue"},
		{name: "ipv6 in ipv4 range", q: "IpPermissions.1.IpProtocol=-1&IpPermissions.1.IpRanges.1.CidrIp=::%2F0", code: "InvalidParameterValue"},
		{name: "group pair without group", q: "IpPermissions.1.IpProtocol=-1&IpPermissions.1.Groups.1.UserId=1", code: "MissingParameter"},
		{name: "malformed group id", q: "IpPermissions.1.IpProtocol=-1&IpPermissions.1.Groups.1.GroupId=sg-xyz", code: "InvalidGroupId.Malformed"},
		{name: "prefix lists", q: "IpPermissions.1.IpProtocol=-1&IpPermissions.1.PrefixListIds.1.PrefixListId=pl-1", code: "UnsupportedOperation"},
		{name: "no peer", q: "IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=1", code: "InvalidPermission.Malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePermissions(params(tc.q))
			if codeOf(err) != tc.code {
				t.Fatalf("error %v, want code %q", err, tc.code)
			}
			if tc.code == "" && !(len(got) == 0 && len(tc.want) == 0) && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDescribeRule(t *testing.T) {
	for _, tc := range []struct {
		r    store.SecurityGroupRule
		want string
	}{
		{store.SecurityGroupRule{IpProtocol: "tcp", FromPort: 22, ToPort: 22, CidrIpv4: "0.0.0.0/0"}, "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW"},
		{store.SecurityGroupRule{IpProtocol: "-1", FromPort: -1, ToPort: -1, ReferencedGroupID: "sg-1"}, "peer: sg-1, ALL, ALLOW"},
		{store.SecurityGroupRule{IpProtocol: "icmp", FromPort: 8, ToPort: -1, CidrIpv6: "::/0"}, "peer: ::/0, ICMP, type: 8, code: -1, ALLOW"},
	} {
		if got := describeRule(tc.r); got != tc.want {
			t.Errorf("describeRule = %q, want %q", got, tc.want)
		}
	}
}

func TestIDShapes(t *testing.T) {
	tests := []struct {
		k    resourceKind
		id   string
		want bool
	}{
		{kindVpc, "vpc-0a1b2c3d4e5f67890", true},
		{kindVpc, "vpc-1a2b3c4d", true},
		{kindVpc, "vpc-1A2B3C4D", false},
		{kindVpc, "vpc-123", false},
		{kindVpc, "vpc-", false},
		{kindVpc, "subnet-1a2b3c4d", false},
		{kindEndpoint, "eice-0123456789abcdef0", true},
		{kindEndpoint, "eice-0nope", true},
		{kindEndpoint, "eice-", false},
		{kindEndpoint, "eice-!", false},
		{kindEndpoint, "eice_1", false},
		{kindEndpoint, "eice-" + strings.Repeat("a", 65), false},
		{kindRule, "sgr-0123456789abcdef0", true},
		{kindInstance, "i-0123456789abcdef0", true},
		{kindInstance, "i-doesnotexist0000", false},
	}
	for _, tc := range tests {
		if got := tc.k.wellFormed(tc.id); got != tc.want {
			t.Errorf("%s wellFormed(%q) = %v", tc.k.prefix, tc.id, got)
		}
	}
	if k, ok := kindOf("eice-1"); !ok || k.prefix != "eice" {
		t.Error("kindOf eice")
	}
	if _, ok := kindOf("ami-1"); ok {
		t.Error("kindOf ami")
	}
	if msg := kindEndpoint.errMalformed("eice-!").Message; !strings.HasSuffix(msg, "Ensure that you specify the ID in the form eice-xxxxxxxxxxxxxxxxx") {
		t.Errorf("malformed message %q", msg)
	}
	if msg := kindGroup.errNotFound("sg-1").Message; msg != "The security group 'sg-1' does not exist" {
		t.Errorf("group NotFound message %q", msg)
	}
	if msg := kindEndpoint.errNotFound("eice-0nope").Message; msg != "The instance connect endpoint ID 'eice-0nope' does not exist" {
		t.Errorf("endpoint NotFound message %q", msg)
	}
}

func TestZones(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1": "use1", "eu-west-2": "euw2", "ap-southeast-1": "apse1", "ap-northeast-3": "apne3",
		"eu-central-1": "euc1", "us-gov-west-1": "usgw1", "ca-central-1": "cac1", "sa-east-1": "sae1", "il-central-1": "ilc1",
	} {
		if got := regionAbbrev(region); got != want {
			t.Errorf("regionAbbrev(%s) = %s, want %s", region, got, want)
		}
	}
	s := &service{cfg: Config{Region: "eu-west-2"}}
	if s.azID("eu-west-2c") != "euw2-az3" || s.azID("eu-west-2z") != "" || s.azID("us-east-1a") != "" {
		t.Error("azID")
	}
	if z, ok := s.azByID("euw2-az3"); !ok || z != "eu-west-2c" {
		t.Error("azByID")
	}
	for _, bad := range []string{"euw2-az0", "euw2-az7", "euw2-az03", "use1-az1", "euw2-azx"} {
		if _, ok := s.azByID(bad); ok {
			t.Errorf("azByID(%s) accepted", bad)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	if _, err := NewEC2(Config{}); err == nil || !strings.Contains(err.Error(), "Store, AccountID, Region, DNSName") {
		t.Errorf("empty config: %v", err)
	}
	st := sqlitetest.Open(t)
	cfg, err := Config{Store: st, AccountID: "1", Region: "r", DNSName: "d"}.withDefaults()
	if err != nil || cfg.EndpointsPerVPC != 1 || cfg.EndpointsPerSubnet != 1 || cfg.DeletedRetention != DefaultDeletedRetention || cfg.Now == nil || cfg.IDs == nil {
		t.Errorf("defaults: %+v %v", cfg, err)
	}
	if _, err := (Config{Store: st, AccountID: "1", Region: "r", DNSName: "d", EndpointsPerVPC: -2}).withDefaults(); err == nil {
		t.Error("quota -2 accepted")
	}
	svc, err := NewEC2(Config{Store: st, AccountID: "1", Region: "r", DNSName: "d"})
	if err != nil || svc.SigningName != "ec2" || svc.Namespace != "http://ec2.amazonaws.com/doc/2016-11-15/" || svc.Version != "2016-11-15" {
		t.Errorf("service = %+v, %v", svc, err)
	}
	for _, a := range []string{"CreateVpc", "DescribeVpcs", "DeleteVpc", "CreateSubnet", "DescribeSubnets", "DeleteSubnet",
		"CreateSecurityGroup", "DescribeSecurityGroups", "DeleteSecurityGroup", "AuthorizeSecurityGroupIngress",
		"AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "DescribeSecurityGroupRules",
		"RegisterInstance", "DeregisterInstance", "DescribeInstances", "ModifyInstanceAttribute", "CreateTags", "DeleteTags",
		"DescribeTags", "CreateInstanceConnectEndpoint", "DescribeInstanceConnectEndpoints", "DeleteInstanceConnectEndpoint",
		"ModifyInstanceConnectEndpoint"} {
		if svc.Actions[a] == nil {
			t.Errorf("action %s missing", a)
		}
	}
}

func TestCreateParamsHash(t *testing.T) {
	tr := true
	a := createParams{SubnetID: "s", SecurityGroupIDs: []string{"b", "a"}, Tags: []store.Tag{{Key: "y"}, {Key: "x", Value: "1"}}}
	b := createParams{SubnetID: "s", SecurityGroupIDs: []string{"a", "b"}, Tags: []store.Tag{{Key: "x", Value: "1"}, {Key: "y"}}}
	if a.hash() != b.hash() {
		t.Error("order of groups and tags must not matter")
	}
	c := b
	c.PreserveClientIP = &tr
	d := b
	d.IPAddressType = "ipv4"
	e := b
	e.Tags = []store.Tag{{Key: "x", Value: "2"}, {Key: "y"}}
	for _, o := range []createParams{c, d, e} {
		if o.hash() == b.hash() {
			t.Errorf("%+v hashes like %+v", o, b)
		}
	}
	if !reflect.DeepEqual(a.SecurityGroupIDs, []string{"b", "a"}) {
		t.Error("hash must not reorder the caller's slice")
	}
}
