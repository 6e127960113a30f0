package store

import (
	"context"
	"fmt"
	"time"
)

// Default security group of every VPC, as AWS makes it.
const (
	DefaultGroupName        = "default"
	DefaultGroupDescription = "default VPC security group"
)

// CreateDefaultGroup makes, in tx, a VPC's default security group with
// AWS's default rules: all traffic in from members of the group itself,
// all traffic out to 0.0.0.0/0 (and ::/0 when the VPC has IPv6). newID
// makes ids for a prefix ("sg", "sgr").
func CreateDefaultGroup(ctx context.Context, tx Repo, vpc Vpc, newID func(prefix string) string, now time.Time) error {
	const protoAll = "-1"
	g := SecurityGroup{
		GroupID: newID("sg"), GroupName: DefaultGroupName, Description: DefaultGroupDescription,
		VpcID: vpc.VpcID, IsDefault: true, CreateDate: now,
	}
	if err := tx.CreateSecurityGroup(ctx, g); err != nil {
		return fmt.Errorf("store: create default security group of %s: %w", vpc.VpcID, err)
	}
	rules := []SecurityGroupRule{
		{RuleID: newID("sgr"), GroupID: g.GroupID, IpProtocol: protoAll, FromPort: -1, ToPort: -1, ReferencedGroupID: g.GroupID},
		{RuleID: newID("sgr"), GroupID: g.GroupID, IsEgress: true, IpProtocol: protoAll, FromPort: -1, ToPort: -1, CidrIpv4: "0.0.0.0/0"},
	}
	if vpc.Ipv6CidrBlock != "" {
		rules = append(rules, SecurityGroupRule{RuleID: newID("sgr"), GroupID: g.GroupID, IsEgress: true, IpProtocol: protoAll, FromPort: -1, ToPort: -1, CidrIpv6: "::/0"})
	}
	if err := tx.AddSecurityGroupRules(ctx, rules); err != nil {
		return fmt.Errorf("store: add default rules of %s: %w", g.GroupID, err)
	}
	return nil
}
