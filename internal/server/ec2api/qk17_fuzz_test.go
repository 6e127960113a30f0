package ec2api

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/internal/wire/awsproto"
)

// FuzzEndpointSettings feeds the parameters that Create- and
// ModifyInstanceConnectEndpoint share (parseEndpointSettings, and
// boolParam through PreserveClientIp) arbitrary query strings, for both
// id kinds. Properties: it never panics; what it accepts is exactly what
// the request said (a well-formed id as sent, the group ids in order
// without repeats, each well-formed, PreserveClientIp true/false in any
// case and whether it was sent, one of the three IP address types or
// none); what it refuses is an *awsproto.Error with status 400 and one of
// the codes the AWS SDK's callers expect for these parameters.
func FuzzEndpointSettings(f *testing.F) {
	for _, seed := range []string{
		"SubnetId=subnet-0123456789abcdef0",
		"SubnetId=subnet-01234567&SecurityGroupId.1=sg-0123456789abcdef0&SecurityGroupId.2=sg-01234567&PreserveClientIp=true&IpAddressType=ipv4",
		"SubnetId=subnet-0123456789abcdef0&SecurityGroupId.1=sg-01234567&SecurityGroupId.2=sg-01234567&PreserveClientIp=FALSE&IpAddressType=dualstack",
		"SubnetId=subnet-0123456789abcdef0&PreserveClientIp=&IpAddressType=ipv6",
		"SubnetId=subnet-0123456789abcdef0&PreserveClientIp=yes",
		"SubnetId=subnet-0123456789abcdef0&IpAddressType=IPV4",
		"SubnetId=subnet-0123456789ABCDEF0",
		"SubnetId=&SecurityGroupId.1=sg-01234567",
		"InstanceConnectEndpointId=eice-0123456789abcdef0&SecurityGroupId.1=sg-0123456789abcdef0&PreserveClientIp=True",
		"InstanceConnectEndpointId=eice-x&SecurityGroupId.1=bad&SecurityGroupId.3=sg-01234567",
		"SecurityGroupId.1=sg-01234567&SecurityGroupId.2=sg-01234568&SecurityGroupId.3=sg-01234569&SecurityGroupId.4=sg-0123456a&SecurityGroupId.5=sg-0123456b&SecurityGroupId.6=sg-0123456c",
		"MaxResults=-5&NextToken=%00",
		"",
	} {
		f.Add(seed)
	}
	codes := map[string]bool{"MissingParameter": true, "InvalidParameterValue": true,
		kindSubnet.malformed: true, kindEndpoint.malformed: true, kindGroup.malformed: true}
	f.Fuzz(func(t *testing.T, body string) {
		v, _ := url.ParseQuery(body)
		p := awsproto.Params(v)
		for _, c := range []struct {
			param string
			kind  resourceKind
		}{{"SubnetId", kindSubnet}, {"InstanceConnectEndpointId", kindEndpoint}} {
			id, set, err := parseEndpointSettings(p, c.param, c.kind)
			if err != nil {
				var ae *awsproto.Error
				if !errors.As(err, &ae) || ae.Status != 400 || !codes[ae.Code] {
					t.Fatalf("parseEndpointSettings(%q, %s) refused with %#v, not an AWS 400 error of an expected code", body, c.param, err)
				}
				continue
			}
			if id != p.Get(c.param) || !c.kind.wellFormed(id) {
				t.Fatalf("parseEndpointSettings(%q, %s) id %q, sent %q", body, c.param, id, p.Get(c.param))
			}
			sent := scalarList(p, "SecurityGroupId")
			var want []string
			for _, g := range sent {
				if !slices.Contains(want, g) {
					want = append(want, g)
				}
			}
			if !slices.Equal(set.groupIDs, want) || len(want) > maxGroupsPerInterface {
				t.Fatalf("parseEndpointSettings(%q) groups %q, sent %q", body, set.groupIDs, sent)
			}
			for _, g := range set.groupIDs {
				if !kindGroup.wellFormed(g) {
					t.Fatalf("parseEndpointSettings(%q) accepted group id %q", body, g)
				}
			}
			pv := strings.ToLower(p.Get("PreserveClientIp"))
			if set.preserveSet != p.Has("PreserveClientIp") || set.preserve != (pv == "true") ||
				!(pv == "" || pv == "true" || pv == "false") {
				t.Fatalf("parseEndpointSettings(%q) PreserveClientIp %v (set %v), sent %q", body, set.preserve, set.preserveSet, p["PreserveClientIp"])
			}
			switch set.ipType {
			case "", ipTypeIPv4, ipTypeDualstack, ipTypeIPv6:
			default:
				t.Fatalf("parseEndpointSettings(%q) IpAddressType %q", body, set.ipType)
			}
			if set.ipType != p.Get("IpAddressType") {
				t.Fatalf("parseEndpointSettings(%q) IpAddressType %q, sent %q", body, set.ipType, p.Get("IpAddressType"))
			}
		}
		// boolParam alone: present iff sent; a value other than true/false
		// (any case, or empty) is InvalidParameterValue.
		b, present, err := boolParam(p, "PreserveClientIp")
		pv := strings.ToLower(p.Get("PreserveClientIp"))
		var ae *awsproto.Error
		switch {
		case present != p.Has("PreserveClientIp"):
			t.Fatalf("boolParam(%q) present %v", body, present)
		case pv == "" || pv == "true" || pv == "false":
			if err != nil || b != (pv == "true") {
				t.Fatalf("boolParam(%q) = %v, %v", body, b, err)
			}
		case !errors.As(err, &ae) || ae.Code != "InvalidParameterValue" || b:
			t.Fatalf("boolParam(%q) = %v, %v; want InvalidParameterValue", body, b, err)
		}
	})
}
