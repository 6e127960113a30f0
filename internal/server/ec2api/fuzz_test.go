package ec2api

import (
	"net/url"
	"testing"

	"github.com/postern/postern/internal/wire/awsproto"
)

// FuzzParams feeds arbitrary form bodies to the request-parameter decoders
// (rules in both forms, filters, tag specifications and lists, pages,
// ids). They must never panic, and what they accept must hold the
// invariants the actions rely on.
func FuzzParams(f *testing.F) {
	for _, seed := range []string{
		"IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.Groups.1.GroupId=sg-0123456789abcdef0",
		"IpPermissions.1.IpProtocol=-1&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0&IpPermissions.1.Ipv6Ranges.1.CidrIpv6=%3A%3A%2F0",
		"IpProtocol=tcp&FromPort=-1&ToPort=-1&CidrIp=10.0.0.0%2F8",
		"SourceSecurityGroupName=web&SourceSecurityGroupOwnerId=123456789012",
		"IpPermissions.1.IpProtocol=icmp&IpPermissions.1.FromPort=8&IpPermissions.1.ToPort=-1&IpPermissions.1.IpRanges.1.CidrIp=1.2.3.4%2F32&IpPermissions.1.IpRanges.1.Description=x",
		"Filter.1.Name=state&Filter.1.Value.1=create-complete&Filter.1.Value.2=update-*&Filter.2.Name=tag:Name&Filter.2.Value.1=a%3Fb",
		"Filter.01.Name=x&Filter.1.Value.1=&Filter.1.Name=",
		"TagSpecification.1.ResourceType=instance-connect-endpoint&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=holdout&TagSpecification.1.Tag.2.Key=env&TagSpecification.1.Tag.2.Value=test+%26+dev",
		"Tag.1.Key=a&Tag.1.Value=b&Tag.2.Key=aws%3Ax",
		"MaxResults=1&NextToken=ZWljZS0wMDAwMDAwMDAwMDAwMDAwZQ.3664006fad54ac1d",
		"MaxResults=-5&NextToken=%00",
		"SecurityGroupId.1=sg-0123456789abcdef0&SecurityGroupId.2=sg-01234567&SecurityGroupId.2=dup",
		"IpPermissions.999999.IpProtocol=tcp&IpPermissions.1.Groups.0.GroupId=x",
		"",
	} {
		f.Add(seed)
	}
	endpointSpec := endpointFilters
	f.Fuzz(func(t *testing.T, body string) {
		v, _ := url.ParseQuery(body)
		p := awsproto.Params(v)

		perms, err := parsePermissions(p)
		if err == nil {
			for _, perm := range perms {
				if len(perm.IPv4)+len(perm.IPv6)+len(perm.Groups) == 0 {
					t.Fatalf("permission without peers accepted: %+v", perm)
				}
				switch perm.Protocol {
				case protoTCP, protoUDP:
					if perm.FromPort < 0 || perm.ToPort > 65535 || perm.FromPort > perm.ToPort {
						t.Fatalf("bad port range accepted: %+v", perm)
					}
				case protoAll:
					if perm.FromPort != -1 || perm.ToPort != -1 {
						t.Fatalf("ports on all-protocol rule: %+v", perm)
					}
				}
				for _, r := range perm.IPv4 {
					if c, err := canonicalCIDR(r.CIDR, 4); err != nil || c != r.CIDR {
						t.Fatalf("non-canonical IPv4 CIDR accepted: %q", r.CIDR)
					}
				}
				for _, r := range perm.IPv6 {
					if c, err := canonicalCIDR(r.CIDR, 6); err != nil || c != r.CIDR {
						t.Fatalf("non-canonical IPv6 CIDR accepted: %q", r.CIDR)
					}
				}
			}
		}
		if filters, err := parseFilters(p, endpointSpec); err == nil {
			total := 0
			for _, fl := range filters {
				if !endpointSpec.allows(fl.Name) || len(fl.Values) == 0 {
					t.Fatalf("bad filter accepted: %+v", fl)
				}
				total += len(fl.Values)
			}
			if total > maxFilterValues {
				t.Fatalf("%d filter values accepted", total)
			}
			matchFilters(filters, func(name string) []string { return p[name] })
		}
		if tags, err := parseTagSpecs(p, "instance-connect-endpoint"); err == nil {
			if validateTags(tags) != nil {
				t.Fatalf("invalid tags accepted: %+v", tags)
			}
		}
		_, _ = parseTagList(p, "Tag")
		if pr, err := parsePage(p, "DescribeInstanceConnectEndpoints", 1, 50); err == nil && (pr.max < 0 || pr.max > 50) {
			t.Fatalf("page size %d accepted", pr.max)
		}
		if ids, err := parseGroupIDs(p, "SecurityGroupId"); err == nil {
			if err := kindGroup.checkAll(ids); err != nil || len(ids) > maxGroupsPerInterface {
				t.Fatalf("bad group ids accepted: %v", ids)
			}
		}
		_, _ = parseIPAddressType(p)
		_, _ = decodeToken("DescribeVpcs", body)
		for _, k := range taggableKinds {
			_ = k.wellFormed(body)
		}
		_ = globMatch(body, p.Get("Filter.1.Value.1"))
		_ = structList(p, "IpPermissions")
	})
}
