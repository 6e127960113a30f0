package cli

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/spf13/cobra"
)

// The AWS CLI adds --protocol, --port, --cidr, --source-group and
// --group-owner to the security-group rule commands and folds them into
// one IpPermissions entry (awscli customizations/ec2/secgroupsimplify).
// A tweak adds such extra options to a reflected operation.

type tweak struct {
	register func(cmd *cobra.Command)
	apply    func(cmd *cobra.Command, in reflect.Value) error
	// output, when set, handles the operation's output (a pointer to the
	// SDK's output structure) before it is printed.
	output func(cmd *cobra.Command, out reflect.Value) error
}

// ruleShorthandTweaks are EC2's tweaks, by operation name.
func ruleShorthandTweaks() map[string]tweak {
	t := tweak{register: registerRuleShorthand, apply: applyRuleShorthand}
	tweaks := map[string]tweak{}
	for _, op := range []string{"AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress"} {
		tweaks[op] = t
	}
	return tweaks
}

func registerRuleShorthand(cmd *cobra.Command) {
	f := cmd.Flags()
	if f.Lookup("protocol") != nil {
		return
	}
	f.String("protocol", "", "tcp, udp, icmp, all or a protocol number")
	f.String("port", "", "a port (22), a range (8000-8080) or -1 for all")
	f.String("cidr", "", "an IPv4 CIDR the rule allows")
	f.String("source-group", "", "a security group id (sg-…) or name the rule allows")
	f.String("group-owner", "", "the account of --source-group")
}

func applyRuleShorthand(cmd *cobra.Command, in reflect.Value) error {
	f := cmd.Flags()
	get := func(n string) string { v, _ := f.GetString(n); return v }
	proto, port, cidr, src, owner := get("protocol"), get("port"), get("cidr"), get("source-group"), get("group-owner")
	if proto == "" && port == "" && cidr == "" && src == "" && owner == "" {
		return nil
	}
	perms := in.FieldByName("IpPermissions")
	if perms.Len() > 0 {
		return usageErr("The --ip-permissions option cannot be combined with --protocol, --port, --cidr or --source-group.")
	}
	if proto == "" {
		return usageErr("The --protocol option is required when --port, --cidr or --source-group is given.")
	}
	if proto == "all" {
		proto = "-1"
	}
	p := ec2types.IpPermission{IpProtocol: aws.String(proto)}
	if port != "" {
		from, to, err := parsePortRange(port)
		if err != nil {
			return err
		}
		p.FromPort, p.ToPort = aws.Int32(from), aws.Int32(to)
	} else if proto == "-1" {
		p.FromPort, p.ToPort = aws.Int32(-1), aws.Int32(-1)
	}
	if cidr != "" {
		p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(cidr)}}
	}
	if src != "" {
		pair := ec2types.UserIdGroupPair{}
		if strings.HasPrefix(src, "sg-") {
			pair.GroupId = aws.String(src)
		} else {
			pair.GroupName = aws.String(src)
		}
		if owner != "" {
			pair.UserId = aws.String(owner)
		}
		p.UserIdGroupPairs = []ec2types.UserIdGroupPair{pair}
	}
	perms.Set(reflect.ValueOf([]ec2types.IpPermission{p}))
	return nil
}

func parsePortRange(s string) (int32, int32, error) {
	from, to, ok := strings.Cut(s, "-")
	if s == "-1" || s == "" {
		return -1, -1, nil
	}
	a, err := strconv.ParseInt(from, 10, 32)
	if err != nil {
		return 0, 0, usageErr("argument --port: %q is not a port or a range such as 8000-8080", s)
	}
	if !ok {
		return int32(a), int32(a), nil
	}
	b, err := strconv.ParseInt(to, 10, 32)
	if err != nil {
		return 0, 0, usageErr("argument --port: %q is not a port or a range such as 8000-8080", s)
	}
	return int32(a), int32(b), nil
}
