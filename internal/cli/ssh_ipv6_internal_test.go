package cli

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestChooseAddressIPv6: an instance without a private IPv4 address is
// reached at its Ipv6Address, through the endpoint with --connection-type
// eice and directly with auto (as the AWS CLI does: auto tunnels only to a
// private IPv4 address).
func TestChooseAddressIPv6(t *testing.T) {
	v6only := ec2types.Instance{Ipv6Address: aws.String("fd00:1:2:301::10")}
	dual := ec2types.Instance{PrivateIpAddress: aws.String("10.0.1.10"), Ipv6Address: aws.String("fd00:1:2:301::10")}
	for _, tc := range []struct {
		name       string
		inst       ec2types.Instance
		kind, want string
		tunnel     bool
	}{
		{"ipv6 only, eice", v6only, "eice", "fd00:1:2:301::10", true},
		{"ipv6 only, auto", v6only, "auto", "fd00:1:2:301::10", false},
		{"ipv6 only, direct", v6only, "direct", "fd00:1:2:301::10", false},
		{"dual stack, eice", dual, "eice", "10.0.1.10", true},
		{"dual stack, auto", dual, "auto", "10.0.1.10", true},
	} {
		ip, tunnel, err := chooseAddress(tc.inst, "", tc.kind)
		if err != nil || ip != tc.want || tunnel != tc.tunnel {
			t.Errorf("%s: %q, tunnel %v, %v; want %q, tunnel %v", tc.name, ip, tunnel, err, tc.want, tc.tunnel)
		}
	}
	if _, _, err := chooseAddress(ec2types.Instance{}, "", "eice"); err == nil {
		t.Error("an instance without addresses was given one")
	}
}
