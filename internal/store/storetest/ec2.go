package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// The EC2 part of the suite. Beyond the contract written in package store
// it requires:
//
//   - lists are ordered by id (rules by group id, then rule id);
//   - Get and List fill Tags (in the order the tags were first set),
//     SecurityGroupIDs and NetworkInterfaceIDs (in the order given); none
//     of these is reported as a non-nil empty slice;
//   - security group names are unique per VPC case-insensitively, kept as
//     given, and looked up case-insensitively;
//   - endpoints marked deleted (DeletedAt set) never block a delete;
//     deleting their subnet or VPC removes them, deleting a group drops it
//     from their groups;
//   - deleting a resource deletes its tags (a group also its rules, a VPC
//     also its default group);
//   - a write that fails inside InTx leaves nothing behind, and the
//     transaction can go on;
//   - every read reflects every committed write at once, whatever caches
//     the backend keeps, and what a read returns belongs to the caller.

// ec2Time is deliberately not in UTC and has microseconds.
var ec2Time = time.Date(2026, 11, 22, 11, 46, 33, 18_123_000, time.FixedZone("UTC-5", -5*3600))

// want fails the test now unless err is nil (target nil) or errors.Is
// target and wrapped with the operation.
func want(t *testing.T, err, target error, what string) {
	t.Helper()
	if target == nil {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return
	}
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want %v", what, err, target)
	}
	wrapped(t, err, what)
}

// same compares a record that came back with the one stored: times must
// come back in UTC and equal, empty and nil slices are alike.
func same[T any](t *testing.T, got, want T, what string) {
	t.Helper()
	rv := reflect.ValueOf(got)
	for i := range rv.NumField() {
		if tm, ok := rv.Field(i).Interface().(time.Time); ok && !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s: %s in %v, want UTC", what, rv.Type().Field(i).Name, tm.Location())
		}
	}
	if g, w := canon(got), canon(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// canon returns v with its times in UTC and its empty slices nil.
func canon[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		if tm, ok := f.Interface().(time.Time); ok {
			if !tm.IsZero() {
				f.Set(reflect.ValueOf(tm.UTC()))
			}
		} else if f.Kind() == reflect.Slice && f.Len() == 0 {
			f.Set(reflect.Zero(f.Type()))
		}
	}
	return v
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func vpcID(v store.Vpc) string                { return v.VpcID }
func subnetID(s store.Subnet) string          { return s.SubnetID }
func sgID(g store.SecurityGroup) string       { return g.GroupID }
func instanceID(i store.Instance) string      { return i.InstanceID }
func endpointID(e store.Endpoint) string      { return e.EndpointID }
func ruleID(r store.SecurityGroupRule) string { return r.RuleID }

func sameIDs(t *testing.T, got, want []string, what string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func vpcRec(n int) store.Vpc {
	return store.Vpc{VpcID: fmt.Sprintf("vpc-%017d", n), CidrBlock: fmt.Sprintf("10.%d.0.0/16", n), State: "available", CreateDate: ec2Time}
}

func subnetRec(n int, vpcID string) store.Subnet {
	return store.Subnet{SubnetID: fmt.Sprintf("subnet-%017d", n), VpcID: vpcID, CidrBlock: fmt.Sprintf("10.0.%d.0/24", n),
		Ipv6CidrBlock: fmt.Sprintf("2600:1f18:0:%x::/64", n), AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az1",
		State: "available", CreateDate: ec2Time}
}

func sgRec(n int, vpcID, name string) store.SecurityGroup {
	return store.SecurityGroup{GroupID: fmt.Sprintf("sg-%017d", n), GroupName: name, Description: "group " + name,
		VpcID: vpcID, CreateDate: ec2Time}
}

func instanceRec(n int, sn store.Subnet, ip string, groups ...string) store.Instance {
	return store.Instance{InstanceID: fmt.Sprintf("i-%017d", n), SubnetID: sn.SubnetID, VpcID: sn.VpcID, PrivateIPAddress: ip,
		AvailabilityZone: sn.AvailabilityZone, State: "running", SecurityGroupIDs: groups, LaunchTime: ec2Time}
}

func endpoint(n int, sn store.Subnet, groups ...string) store.Endpoint {
	id := fmt.Sprintf("eice-%017d", n)
	return store.Endpoint{EndpointID: id, ARN: "arn:aws:ec2:us-east-1:" + account + ":instance-connect-endpoint/" + id, OwnerID: account,
		State: "create-in-progress", DNSName: id + ".example", FipsDNSName: id + ".fips.example", SubnetID: sn.SubnetID, VpcID: sn.VpcID,
		AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az1", IPAddressType: "ipv4", SecurityGroupIDs: groups,
		ClientToken: fmt.Sprint("token-", n), CreatedAt: ec2Time}
}

func rule(id, groupID string, egress bool, proto string, from, to int32) store.SecurityGroupRule {
	return store.SecurityGroupRule{RuleID: id, GroupID: groupID, IsEgress: egress, IpProtocol: proto, FromPort: from, ToPort: to}
}

// network makes VPC n with its default group (sg n) and subnet n.
func network(t *testing.T, r store.Repo, n int) (store.Vpc, store.Subnet, store.SecurityGroup) {
	t.Helper()
	ctx := context.Background()
	v := vpcRec(n)
	want(t, r.CreateVpc(ctx, v), nil, "create vpc")
	g := sgRec(n, v.VpcID, "default")
	g.IsDefault, g.Description = true, "default VPC security group"
	want(t, r.CreateSecurityGroup(ctx, g), nil, "create default group")
	sn := subnetRec(n, v.VpcID)
	want(t, r.CreateSubnet(ctx, sn), nil, "create subnet")
	return v, sn, g
}

func noTags(t *testing.T, s store.Store, what string, ids ...string) {
	t.Helper()
	tags, err := s.ListTags(context.Background(), ids)
	want(t, err, nil, "list tags")
	for _, id := range ids {
		if len(tags[id]) != 0 {
			t.Fatalf("%s: tags of %s outlived it: %v", what, id, tags[id])
		}
	}
}

func testVpcs(t *testing.T, s store.Store) {
	ctx := context.Background()
	v2, v1 := vpcRec(2), vpcRec(1)
	v2.Ipv6CidrBlock = "2600:1f18::/56"
	v2.Tags = []store.Tag{{Key: "Name", Value: "two"}, {Key: "env", Value: "prod"}}
	want(t, s.CreateVpc(ctx, v2), nil, "create vpc 2")
	want(t, s.CreateVpc(ctx, v1), nil, "create vpc 1")
	got, err := s.GetVpc(ctx, v2.VpcID)
	want(t, err, nil, "get vpc")
	same(t, got, v2, "vpc")
	dup := v2
	dup.Tags = nil
	want(t, s.CreateVpc(ctx, dup), store.ErrConflict, "duplicate vpc")
	_, err = s.GetVpc(ctx, "vpc-missing")
	want(t, err, store.ErrNotFound, "missing vpc")

	want(t, s.SetTags(ctx, v1.VpcID, []store.Tag{{Key: "Name", Value: "one"}}), nil, "tag vpc 1")
	v1.Tags = []store.Tag{{Key: "Name", Value: "one"}}
	vs, err := s.ListVpcs(ctx)
	want(t, err, nil, "list vpcs")
	sameIDs(t, ids(vs, vpcID), []string{v1.VpcID, v2.VpcID}, "vpcs")
	same(t, vs[0], v1, "listed vpc 1")
	same(t, vs[1], v2, "listed vpc 2")

	// The IPv6 block is set and removed in place.
	want(t, s.SetVpcIpv6CidrBlock(ctx, v1.VpcID, "fd00:1:2:300::/56"), nil, "set the ipv6 block of vpc 1")
	v1.Ipv6CidrBlock = "fd00:1:2:300::/56"
	got, err = s.GetVpc(ctx, v1.VpcID)
	want(t, err, nil, "get vpc 1")
	same(t, got, v1, "vpc 1 with an ipv6 block")
	want(t, s.SetVpcIpv6CidrBlock(ctx, v1.VpcID, ""), nil, "remove the ipv6 block of vpc 1")
	v1.Ipv6CidrBlock = ""
	got, _ = s.GetVpc(ctx, v1.VpcID)
	same(t, got, v1, "vpc 1 without an ipv6 block")
	want(t, s.SetVpcIpv6CidrBlock(ctx, "vpc-missing", "fd00::/56"), store.ErrNotFound, "ipv6 block of a missing vpc")

	want(t, s.DeleteVpc(ctx, v2.VpcID), nil, "delete vpc")
	want(t, s.DeleteVpc(ctx, v2.VpcID), store.ErrNotFound, "delete vpc twice")
	noTags(t, s, "deleted vpc", v2.VpcID)
	vs, _ = s.ListVpcs(ctx)
	sameIDs(t, ids(vs, vpcID), []string{v1.VpcID}, "vpcs after delete")
}

func testSubnets(t *testing.T, s store.Store) {
	ctx := context.Background()
	v1, v2 := vpcRec(1), vpcRec(2)
	want(t, s.CreateVpc(ctx, v1), nil, "vpc 1")
	want(t, s.CreateVpc(ctx, v2), nil, "vpc 2")
	want(t, s.CreateSubnet(ctx, subnetRec(9, "vpc-missing")), store.ErrNotFound, "subnet in a missing vpc")
	sn3, sn1, sn2 := subnetRec(3, v1.VpcID), subnetRec(1, v1.VpcID), subnetRec(2, v2.VpcID)
	sn3.Tags = []store.Tag{{Key: "tier", Value: "private"}}
	for _, sn := range []store.Subnet{sn3, sn1, sn2} {
		want(t, s.CreateSubnet(ctx, sn), nil, "create "+sn.SubnetID)
	}
	dup := subnetRec(1, v2.VpcID)
	want(t, s.CreateSubnet(ctx, dup), store.ErrConflict, "duplicate subnet id")
	got, err := s.GetSubnet(ctx, sn3.SubnetID)
	want(t, err, nil, "get subnet")
	same(t, got, sn3, "subnet")
	_, err = s.GetSubnet(ctx, "subnet-missing")
	want(t, err, store.ErrNotFound, "missing subnet")

	all, err := s.ListSubnets(ctx, "")
	want(t, err, nil, "list subnets")
	sameIDs(t, ids(all, subnetID), []string{sn1.SubnetID, sn2.SubnetID, sn3.SubnetID}, "all subnets")
	same(t, all[2], sn3, "listed subnet")
	in1, err := s.ListSubnets(ctx, v1.VpcID)
	want(t, err, nil, "list subnets of vpc")
	sameIDs(t, ids(in1, subnetID), []string{sn1.SubnetID, sn3.SubnetID}, "subnets of vpc 1")
	none, err := s.ListSubnets(ctx, "vpc-missing")
	want(t, err, nil, "list subnets of a missing vpc")
	if len(none) != 0 {
		t.Fatalf("subnets of a missing vpc: %v", none)
	}

	want(t, s.SetSubnetIpv6CidrBlock(ctx, sn3.SubnetID, "fd00:1:2:301::/64"), nil, "set the ipv6 block of a subnet")
	sn3.Ipv6CidrBlock = "fd00:1:2:301::/64"
	got, _ = s.GetSubnet(ctx, sn3.SubnetID)
	same(t, got, sn3, "subnet with an ipv6 block")
	want(t, s.SetSubnetIpv6CidrBlock(ctx, sn3.SubnetID, ""), nil, "remove the ipv6 block of a subnet")
	sn3.Ipv6CidrBlock = ""
	got, _ = s.GetSubnet(ctx, sn3.SubnetID)
	same(t, got, sn3, "subnet without an ipv6 block")
	want(t, s.SetSubnetIpv6CidrBlock(ctx, "subnet-missing", "fd00::/64"), store.ErrNotFound, "ipv6 block of a missing subnet")

	want(t, s.DeleteVpc(ctx, v1.VpcID), store.ErrInUse, "delete vpc with subnets")
	want(t, s.DeleteSubnet(ctx, sn3.SubnetID), nil, "delete subnet")
	want(t, s.DeleteSubnet(ctx, sn3.SubnetID), store.ErrNotFound, "delete subnet twice")
	noTags(t, s, "deleted subnet", sn3.SubnetID)
	want(t, s.DeleteSubnet(ctx, sn1.SubnetID), nil, "delete subnet 1")
	want(t, s.DeleteVpc(ctx, v1.VpcID), nil, "delete emptied vpc")
}

func testDeleteVpcInUse(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, sn, def := network(t, s, 1)
	_, _, def2 := network(t, s, 2)
	want(t, s.SetTags(ctx, v.VpcID, []store.Tag{{Key: "Name", Value: "main"}}), nil, "tag vpc")
	want(t, s.SetTags(ctx, def.GroupID, []store.Tag{{Key: "Name", Value: "default"}}), nil, "tag default group")
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{
		{RuleID: "sgr-self", GroupID: def.GroupID, IpProtocol: "-1", FromPort: -1, ToPort: -1, ReferencedGroupID: def.GroupID},
		{RuleID: "sgr-out", GroupID: def.GroupID, IsEgress: true, IpProtocol: "-1", FromPort: -1, ToPort: -1, CidrIpv4: "0.0.0.0/0"},
	}), nil, "default rules")

	// A subnet, with an instance and a live endpoint in it.
	i := instanceRec(1, sn, "10.0.1.10", def.GroupID)
	want(t, s.CreateInstance(ctx, i), nil, "create instance")
	e := endpoint(1, sn, def.GroupID)
	e.Tags = []store.Tag{{Key: "k", Value: "v"}}
	want(t, s.CreateEndpoint(ctx, e), nil, "create endpoint")
	want(t, s.DeleteVpc(ctx, v.VpcID), store.ErrInUse, "vpc with a subnet, an instance and an endpoint")
	want(t, s.DeleteSubnet(ctx, sn.SubnetID), store.ErrInUse, "subnet with an instance and an endpoint")
	want(t, s.DeleteInstance(ctx, i.InstanceID), nil, "delete instance")
	want(t, s.DeleteSubnet(ctx, sn.SubnetID), store.ErrInUse, "subnet with a live endpoint")
	e.State, e.DeletedAt = "delete-complete", ec2Time.Add(time.Minute)
	want(t, s.UpdateEndpoint(ctx, e), nil, "mark endpoint deleted")
	want(t, s.DeleteSubnet(ctx, sn.SubnetID), nil, "a deleted endpoint does not hold its subnet")
	_, err := s.GetEndpoint(ctx, e.EndpointID)
	want(t, err, store.ErrNotFound, "deleted endpoint of a deleted subnet")
	noTags(t, s, "endpoint removed with its subnet", e.EndpointID)

	// A group other than the default one.
	g := sgRec(10, v.VpcID, "web")
	want(t, s.CreateSecurityGroup(ctx, g), nil, "create group")
	want(t, s.DeleteVpc(ctx, v.VpcID), store.ErrInUse, "vpc with a non-default group")
	want(t, s.DeleteSecurityGroup(ctx, g.GroupID), nil, "delete group")

	// The default group referenced by a group of another VPC.
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{
		{RuleID: "sgr-peer", GroupID: def2.GroupID, IpProtocol: "tcp", FromPort: 22, ToPort: 22, ReferencedGroupID: def.GroupID},
	}), nil, "rule of another vpc's group")
	want(t, s.DeleteVpc(ctx, v.VpcID), store.ErrInUse, "vpc whose default group is referenced")
	want(t, s.RemoveSecurityGroupRules(ctx, []string{"sgr-peer"}), nil, "remove the reference")

	want(t, s.DeleteVpc(ctx, v.VpcID), nil, "delete vpc")
	_, err = s.GetSecurityGroup(ctx, def.GroupID)
	want(t, err, store.ErrNotFound, "default group after its vpc")
	rules, err := s.ListSecurityGroupRules(ctx, []string{def.GroupID})
	want(t, err, nil, "list rules")
	if len(rules) != 0 {
		t.Fatalf("rules of the default group outlived it: %+v", rules)
	}
	noTags(t, s, "deleted vpc", v.VpcID, def.GroupID)
	want(t, s.DeleteVpc(ctx, v.VpcID), store.ErrNotFound, "delete vpc twice")
}

func testSecurityGroups(t *testing.T, s store.Store) {
	ctx := context.Background()
	v1, _, def1 := network(t, s, 1)
	v2, _, def2 := network(t, s, 2)
	g := sgRec(20, v1.VpcID, "Web")
	g.Tags = []store.Tag{{Key: "Name", Value: "web"}}
	want(t, s.CreateSecurityGroup(ctx, g), nil, "create group")
	got, err := s.GetSecurityGroup(ctx, g.GroupID)
	want(t, err, nil, "get group")
	same(t, got, g, "group")
	want(t, s.CreateSecurityGroup(ctx, sgRec(21, v1.VpcID, "WEB")), store.ErrConflict, "same name in the vpc, other case")
	want(t, s.CreateSecurityGroup(ctx, sgRec(20, v2.VpcID, "other")), store.ErrConflict, "duplicate group id")
	want(t, s.CreateSecurityGroup(ctx, sgRec(22, "vpc-missing", "x")), store.ErrNotFound, "group in a missing vpc")
	g2 := sgRec(11, v2.VpcID, "web")
	want(t, s.CreateSecurityGroup(ctx, g2), nil, "same name in another vpc")

	byName, err := s.GetSecurityGroupByName(ctx, v1.VpcID, "wEB")
	want(t, err, nil, "by name")
	same(t, byName, g, "group by name")
	byName, err = s.GetSecurityGroupByName(ctx, v2.VpcID, "WEB")
	want(t, err, nil, "by name in vpc 2")
	same(t, byName, g2, "group by name in vpc 2")
	_, err = s.GetSecurityGroupByName(ctx, v1.VpcID, "db")
	want(t, err, store.ErrNotFound, "missing name")
	_, err = s.GetSecurityGroup(ctx, "sg-missing")
	want(t, err, store.ErrNotFound, "missing group")

	all, err := s.ListSecurityGroups(ctx, "")
	want(t, err, nil, "list groups")
	sameIDs(t, ids(all, sgID), []string{def1.GroupID, def2.GroupID, g2.GroupID, g.GroupID}, "all groups")
	same(t, all[3], g, "listed group")
	if !all[0].IsDefault || all[3].IsDefault {
		t.Fatalf("IsDefault not kept: %+v", all)
	}
	in2, err := s.ListSecurityGroups(ctx, v2.VpcID)
	want(t, err, nil, "list groups of vpc")
	sameIDs(t, ids(in2, sgID), []string{def2.GroupID, g2.GroupID}, "groups of vpc 2")

	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{
		{RuleID: "sgr-1", GroupID: g.GroupID, IpProtocol: "tcp", FromPort: 22, ToPort: 22, CidrIpv4: "10.0.0.0/8"},
	}), nil, "add rule")
	want(t, s.DeleteSecurityGroup(ctx, g.GroupID), nil, "delete group")
	want(t, s.DeleteSecurityGroup(ctx, g.GroupID), store.ErrNotFound, "delete group twice")
	noTags(t, s, "deleted group", g.GroupID)
	rules, err := s.ListSecurityGroupRules(ctx, nil)
	want(t, err, nil, "list rules")
	if len(rules) != 0 {
		t.Fatalf("rules outlived their group: %+v", rules)
	}
	want(t, s.CreateSecurityGroup(ctx, sgRec(23, v1.VpcID, "web")), nil, "the name is free again")
}

func testSecurityGroupRules(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, _, def := network(t, s, 1)
	g, h := sgRec(10, v.VpcID, "g"), sgRec(11, v.VpcID, "h")
	want(t, s.CreateSecurityGroup(ctx, g), nil, "group g")
	want(t, s.CreateSecurityGroup(ctx, h), nil, "group h")

	r3 := rule("sgr-3", g.GroupID, false, "tcp", 22, 22)
	r3.CidrIpv4, r3.Description = "10.0.0.0/16", "ssh"
	r1 := rule("sgr-1", g.GroupID, true, "-1", -1, -1)
	r1.CidrIpv4 = "0.0.0.0/0"
	r2 := rule("sgr-2", h.GroupID, false, "tcp", 443, 443)
	r2.CidrIpv6 = "::/0"
	r4 := rule("sgr-4", g.GroupID, false, "tcp", 22, 22)
	r4.ReferencedGroupID = h.GroupID
	r5 := rule("sgr-5", g.GroupID, false, "icmp", 8, -1)
	r5.ReferencedGroupID = g.GroupID
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{r3, r1, r2, r4, r5}), nil, "add rules")

	all, err := s.ListSecurityGroupRules(ctx, nil)
	want(t, err, nil, "list rules")
	if w := []store.SecurityGroupRule{r1, r3, r4, r5, r2}; !reflect.DeepEqual(all, w) {
		t.Fatalf("rules\n got %+v\nwant %+v", all, w)
	}
	of, err := s.ListSecurityGroupRules(ctx, []string{h.GroupID, def.GroupID})
	want(t, err, nil, "list rules of groups")
	sameIDs(t, ids(of, ruleID), []string{"sgr-2"}, "rules of h and default")

	// Identical: everything but id and description agrees.
	dup := r3
	dup.RuleID, dup.Description = "sgr-9", "other text"
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{dup}), store.ErrConflict, "identical rule")
	dup = r4
	dup.RuleID = "sgr-9"
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{dup}), store.ErrConflict, "identical group rule")
	// Not identical: one of direction, protocol, ports or peer differs.
	var variants []store.SecurityGroupRule
	for n, change := range []func(*store.SecurityGroupRule){
		func(r *store.SecurityGroupRule) { r.IsEgress = true },
		func(r *store.SecurityGroupRule) { r.IpProtocol = "udp" },
		func(r *store.SecurityGroupRule) { r.FromPort = 21 },
		func(r *store.SecurityGroupRule) { r.ToPort = 23 },
		func(r *store.SecurityGroupRule) { r.CidrIpv4 = "10.1.0.0/16" },
		func(r *store.SecurityGroupRule) { r.CidrIpv4, r.CidrIpv6 = "", "2600::/16" },
		func(r *store.SecurityGroupRule) { r.CidrIpv4, r.ReferencedGroupID = "", def.GroupID },
	} {
		v := r3
		v.RuleID = fmt.Sprintf("sgr-v%d", n)
		change(&v)
		variants = append(variants, v)
	}
	want(t, s.AddSecurityGroupRules(ctx, variants), nil, "rules that differ in one field")
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{r3}), store.ErrConflict, "duplicate rule id")

	// A failing call adds nothing.
	fresh := rule("sgr-6", h.GroupID, false, "udp", 53, 53)
	fresh.CidrIpv4 = "10.0.0.2/32"
	twin := fresh
	twin.RuleID = "sgr-7"
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{fresh, twin}), store.ErrConflict, "identical rules in one call")
	missingGroup := rule("sgr-8", "sg-missing", false, "tcp", 1, 1)
	missingGroup.CidrIpv4 = "1.2.3.4/32"
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{fresh, missingGroup}), store.ErrNotFound, "rule on a missing group")
	missingPeer := rule("sgr-8", g.GroupID, false, "tcp", 1, 1)
	missingPeer.ReferencedGroupID = "sg-missing"
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{fresh, missingPeer}), store.ErrNotFound, "rule naming a missing group")
	of, _ = s.ListSecurityGroupRules(ctx, []string{h.GroupID})
	sameIDs(t, ids(of, ruleID), []string{"sgr-2"}, "rules of h after failed adds")

	// Removal is all or nothing too.
	want(t, s.RemoveSecurityGroupRules(ctx, []string{"sgr-2", "sgr-missing"}), store.ErrNotFound, "remove a missing rule")
	of, _ = s.ListSecurityGroupRules(ctx, []string{h.GroupID})
	sameIDs(t, ids(of, ruleID), []string{"sgr-2"}, "rules of h after a failed remove")
	want(t, s.RemoveSecurityGroupRules(ctx, []string{"sgr-2"}), nil, "remove rule")

	// h is referenced by g's rule; g's reference to itself does not hold g.
	want(t, s.DeleteSecurityGroup(ctx, h.GroupID), store.ErrInUse, "group referenced by another group's rule")
	want(t, s.DeleteSecurityGroup(ctx, g.GroupID), nil, "group referencing itself and h")
	want(t, s.DeleteSecurityGroup(ctx, h.GroupID), nil, "h once g is gone")
	left, _ := s.ListSecurityGroupRules(ctx, nil)
	if len(left) != 0 {
		t.Fatalf("rules outlived their groups: %+v", left)
	}
}

func testDeleteSecurityGroupInUse(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, sn, def := network(t, s, 1)
	g, g2 := sgRec(10, v.VpcID, "ssh"), sgRec(11, v.VpcID, "eice")
	want(t, s.CreateSecurityGroup(ctx, g), nil, "group")
	want(t, s.CreateSecurityGroup(ctx, g2), nil, "group 2")

	i := instanceRec(1, sn, "10.0.1.10", def.GroupID, g.GroupID)
	want(t, s.CreateInstance(ctx, i), nil, "instance")
	want(t, s.DeleteSecurityGroup(ctx, g.GroupID), store.ErrInUse, "group used by an instance")
	want(t, s.SetInstanceSecurityGroups(ctx, i.InstanceID, []string{def.GroupID}), nil, "drop the group from the instance")
	want(t, s.DeleteSecurityGroup(ctx, g.GroupID), nil, "group no instance uses")

	e := endpoint(1, sn, g2.GroupID, def.GroupID)
	want(t, s.CreateEndpoint(ctx, e), nil, "endpoint")
	want(t, s.DeleteSecurityGroup(ctx, g2.GroupID), store.ErrInUse, "group used by a live endpoint")
	e.State, e.DeletedAt = "delete-complete", ec2Time.Add(time.Hour)
	want(t, s.UpdateEndpoint(ctx, e), nil, "mark endpoint deleted")
	want(t, s.DeleteSecurityGroup(ctx, g2.GroupID), nil, "group used by a deleted endpoint only")
	got, err := s.GetEndpoint(ctx, e.EndpointID)
	want(t, err, nil, "deleted endpoint still there")
	e.SecurityGroupIDs = []string{def.GroupID}
	same(t, got, e, "deleted endpoint without the deleted group")
}

func testInstances(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, sn, def := network(t, s, 1)
	_, sn2, def2 := network(t, s, 2)
	g2 := sgRec(10, v.VpcID, "ssh")
	want(t, s.CreateSecurityGroup(ctx, g2), nil, "group 2")
	i := instanceRec(5, sn, "10.0.1.10", g2.GroupID, def.GroupID)
	i.Ipv6Address, i.PublicIPAddress, i.Platform = "2600:1f18::10", "203.0.113.7", "windows"
	i.Tags = []store.Tag{{Key: "Name", Value: "web"}, {Key: "env", Value: "prod"}}
	want(t, s.CreateInstance(ctx, i), nil, "create instance")
	got, err := s.GetInstance(ctx, i.InstanceID)
	want(t, err, nil, "get instance")
	same(t, got, i, "instance")
	_, err = s.GetInstance(ctx, "i-missing")
	want(t, err, store.ErrNotFound, "missing instance")

	want(t, s.CreateInstance(ctx, instanceRec(6, sn, "10.0.1.10", def.GroupID)), store.ErrConflict, "private ip taken in the vpc")
	want(t, s.CreateInstance(ctx, instanceRec(5, sn, "10.0.1.99", def.GroupID)), store.ErrConflict, "duplicate instance id")
	want(t, s.CreateInstance(ctx, instanceRec(6, sn, "10.0.1.11", def.GroupID, "sg-missing")), store.ErrNotFound, "missing security group")
	want(t, s.CreateInstance(ctx, instanceRec(6, subnetRec(9, v.VpcID), "10.0.1.11", def.GroupID)), store.ErrNotFound, "missing subnet")
	other := instanceRec(1, sn2, "10.0.1.10", def2.GroupID)
	want(t, s.CreateInstance(ctx, other), nil, "same private ip in another vpc")
	want(t, s.CreateInstance(ctx, instanceRec(6, sn, "10.0.1.11")), nil, "instance without groups")

	list, err := s.ListInstances(ctx)
	want(t, err, nil, "list")
	sameIDs(t, ids(list, instanceID), []string{other.InstanceID, i.InstanceID, fmt.Sprintf("i-%017d", 6)}, "instances")
	same(t, list[1], i, "listed instance")
	same(t, list[0], other, "listed instance in vpc 2")

	want(t, s.SetInstanceSecurityGroups(ctx, i.InstanceID, []string{def.GroupID, g2.GroupID}), nil, "set groups")
	got, _ = s.GetInstance(ctx, i.InstanceID)
	sameIDs(t, got.SecurityGroupIDs, []string{def.GroupID, g2.GroupID}, "groups after set")
	want(t, s.SetInstanceSecurityGroups(ctx, i.InstanceID, []string{g2.GroupID, "sg-missing"}), store.ErrNotFound, "set a missing group")
	got, _ = s.GetInstance(ctx, i.InstanceID)
	sameIDs(t, got.SecurityGroupIDs, []string{def.GroupID, g2.GroupID}, "groups after a failed set")
	want(t, s.SetInstanceSecurityGroups(ctx, "i-missing", nil), store.ErrNotFound, "set groups of a missing instance")
	want(t, s.SetInstanceSecurityGroups(ctx, i.InstanceID, nil), nil, "no groups")
	got, _ = s.GetInstance(ctx, i.InstanceID)
	if len(got.SecurityGroupIDs) != 0 {
		t.Fatalf("groups after clearing: %v", got.SecurityGroupIDs)
	}

	want(t, s.DeleteInstance(ctx, i.InstanceID), nil, "delete instance")
	want(t, s.DeleteInstance(ctx, i.InstanceID), store.ErrNotFound, "delete instance twice")
	noTags(t, s, "deleted instance", i.InstanceID)
	want(t, s.CreateInstance(ctx, instanceRec(7, sn, "10.0.1.10", def.GroupID)), nil, "the address is free again")
}

func testEndpoints(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, sn, def := network(t, s, 1)
	g2 := sgRec(10, v.VpcID, "eice")
	want(t, s.CreateSecurityGroup(ctx, g2), nil, "group 2")
	e := endpoint(3, sn, g2.GroupID, def.GroupID)
	e.Tags = []store.Tag{{Key: "Name", Value: "e"}, {Key: "a", Value: "b"}}
	want(t, s.CreateEndpoint(ctx, e), nil, "create endpoint")
	got, err := s.GetEndpoint(ctx, e.EndpointID)
	want(t, err, nil, "get endpoint")
	same(t, got, e, "endpoint")
	_, err = s.GetEndpoint(ctx, "eice-missing")
	want(t, err, store.ErrNotFound, "missing endpoint")
	want(t, s.CreateEndpoint(ctx, e), store.ErrConflict, "duplicate endpoint")
	want(t, s.CreateEndpoint(ctx, endpoint(4, sn, "sg-missing")), store.ErrNotFound, "endpoint with a missing group")
	want(t, s.CreateEndpoint(ctx, endpoint(4, subnetRec(9, v.VpcID), def.GroupID)), store.ErrNotFound, "endpoint in a missing subnet")
	e1 := endpoint(1, sn, def.GroupID)
	want(t, s.CreateEndpoint(ctx, e1), nil, "create endpoint 1")

	e.State, e.StateMessage, e.NetworkInterfaceIDs, e.PreserveClientIP = "create-complete", "ready", []string{"eni-2", "eni-1"}, true
	e.IPAddressType, e.SecurityGroupIDs = "dualstack", []string{def.GroupID}
	want(t, s.UpdateEndpoint(ctx, e), nil, "update")
	got, _ = s.GetEndpoint(ctx, e.EndpointID)
	same(t, got, e, "updated endpoint")
	bad := e
	bad.State, bad.SecurityGroupIDs = "update-failed", []string{def.GroupID, "sg-missing"}
	want(t, s.UpdateEndpoint(ctx, bad), store.ErrNotFound, "update with a missing group")
	got, _ = s.GetEndpoint(ctx, e.EndpointID)
	same(t, got, e, "endpoint after a failed update")
	want(t, s.UpdateEndpoint(ctx, endpoint(9, sn)), store.ErrNotFound, "update a missing endpoint")

	e.State, e.DeletedAt, e.NetworkInterfaceIDs = "delete-complete", ec2Time.Add(time.Minute), nil
	want(t, s.UpdateEndpoint(ctx, e), nil, "mark deleted")
	list, err := s.ListEndpoints(ctx)
	want(t, err, nil, "list")
	sameIDs(t, ids(list, endpointID), []string{e1.EndpointID, e.EndpointID}, "endpoints, deleted ones included")
	same(t, list[1], e, "listed deleted endpoint")
	same(t, list[0], e1, "listed live endpoint")

	n, err := s.PurgeEndpoints(ctx, ec2Time.Add(time.Minute))
	want(t, err, nil, "purge none")
	if n != 0 {
		t.Fatalf("purged %d endpoints deleted at the cutoff", n)
	}
	n, err = s.PurgeEndpoints(ctx, ec2Time.Add(24*time.Hour))
	want(t, err, nil, "purge")
	if n != 1 {
		t.Fatalf("purged %d, want 1 (live endpoints stay)", n)
	}
	_, err = s.GetEndpoint(ctx, e.EndpointID)
	want(t, err, store.ErrNotFound, "purged endpoint")
	noTags(t, s, "purged endpoint", e.EndpointID)
	list, _ = s.ListEndpoints(ctx)
	sameIDs(t, ids(list, endpointID), []string{e1.EndpointID}, "endpoints after purge")
	want(t, s.CreateEndpoint(ctx, e), nil, "the purged id is free again")
}

func testEndpointsPage(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, sn1, g1 := network(t, s, 1)
	_, sn2, g2 := network(t, s, 2)
	for n := range 6 {
		sn, g := sn1, g1
		if n%2 == 1 {
			sn, g = sn2, g2
		}
		e := endpoint(n, sn, g.GroupID)
		e.Tags = []store.Tag{{Key: "n", Value: fmt.Sprint(n)}}
		if n == 4 {
			e.State = "create-complete"
		}
		want(t, s.CreateEndpoint(ctx, e), nil, "create")
	}
	last := func(es []store.Endpoint) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.EndpointID[len(e.EndpointID)-1:])
		}
		return out
	}
	tests := []struct {
		name string
		q    store.EndpointQuery
		want []string
	}{
		{"all", store.EndpointQuery{}, []string{"0", "1", "2", "3", "4", "5"}},
		{"first page", store.EndpointQuery{Limit: 2}, []string{"0", "1"}},
		{"next page", store.EndpointQuery{Limit: 2, AfterID: fmt.Sprintf("eice-%017d", 1)}, []string{"2", "3"}},
		{"after a missing id", store.EndpointQuery{AfterID: fmt.Sprintf("eice-%017d", 3) + "x"}, []string{"4", "5"}},
		{"vpc", store.EndpointQuery{VpcIDs: []string{sn1.VpcID}}, []string{"0", "2", "4"}},
		{"vpc, page", store.EndpointQuery{VpcIDs: []string{sn1.VpcID}, Limit: 2, AfterID: fmt.Sprintf("eice-%017d", 0)}, []string{"2", "4"}},
		{"subnet and state", store.EndpointQuery{SubnetIDs: []string{sn1.SubnetID}, States: []string{"create-complete"}}, []string{"4"}},
		{"ids", store.EndpointQuery{IDs: []string{fmt.Sprintf("eice-%017d", 5), fmt.Sprintf("eice-%017d", 3)}}, []string{"3", "5"}},
		{"none", store.EndpointQuery{States: []string{"update-failed"}}, nil},
	}
	run := func(round string) {
		for _, tc := range tests {
			got, err := s.ListEndpointsPage(ctx, tc.q)
			want(t, err, nil, tc.name)
			if !slices.Equal(last(got), tc.want) {
				t.Fatalf("%s, %s: got %v, want %v", round, tc.name, last(got), tc.want)
			}
			for _, e := range got {
				if len(e.Tags) != 1 || len(e.SecurityGroupIDs) != 1 {
					t.Fatalf("%s, %s: children not loaded: %+v", round, tc.name, e)
				}
			}
		}
	}
	run("first round")
	// Again after a full listing (which a backend may cache).
	if _, err := s.ListEndpoints(ctx); err != nil {
		t.Fatal(err)
	}
	run("after a listing")
}

func testResourceTags(t *testing.T, s store.Store) {
	ctx := context.Background()
	want(t, s.SetTags(ctx, "i-1", []store.Tag{{Key: "b", Value: "1"}, {Key: "a", Value: "2"}}), nil, "set")
	want(t, s.SetTags(ctx, "i-1", []store.Tag{{Key: "b", Value: "3"}, {Key: "c", Value: "4"}, {Key: "B", Value: "case"}}), nil, "overwrite and append")
	want(t, s.SetTags(ctx, "i-2", []store.Tag{{Key: "x", Value: ""}}), nil, "other resource, empty value")
	want(t, s.SetTags(ctx, "i-3", nil), nil, "no tags")
	tags, err := s.ListTags(ctx, []string{"i-1", "i-3", "i-missing"})
	want(t, err, nil, "list")
	if w := []store.Tag{{Key: "b", Value: "3"}, {Key: "a", Value: "2"}, {Key: "c", Value: "4"}, {Key: "B", Value: "case"}}; !reflect.DeepEqual(tags["i-1"], w) {
		t.Fatalf("tags %v, want %v", tags["i-1"], w)
	}
	if len(tags) != 1 {
		t.Fatalf("untagged or other resources listed: %v", tags)
	}

	want(t, s.DeleteTags(ctx, "i-1", []store.Tag{{Key: "a", Value: "wrong"}}), nil, "delete with another value")
	want(t, s.DeleteTags(ctx, "i-1", []store.Tag{{Key: "c"}, {Key: "nope"}}), nil, "delete by key")
	want(t, s.DeleteTags(ctx, "i-1", []store.Tag{{Key: "b", Value: "3"}}), nil, "delete with the value")
	want(t, s.DeleteTags(ctx, "i-missing", []store.Tag{{Key: "b"}}), nil, "delete on an untagged resource")
	want(t, s.SetTags(ctx, "i-1", []store.Tag{{Key: "b", Value: "again"}}), nil, "re-add a deleted key")
	all, err := s.ListTags(ctx, nil)
	want(t, err, nil, "list all")
	w := map[string][]store.Tag{
		"i-1": {{Key: "a", Value: "2"}, {Key: "B", Value: "case"}, {Key: "b", Value: "again"}},
		"i-2": {{Key: "x", Value: ""}},
	}
	if !reflect.DeepEqual(all, w) {
		t.Fatalf("all tags %v, want %v", all, w)
	}
}

func testClientTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := store.ClientToken{Token: "t1", Action: "CreateInstanceConnectEndpoint", ParamsHash: "h", ResourceID: "eice-1", CreateDate: ec2Time}
	want(t, s.PutClientToken(ctx, tok), nil, "put")
	again := tok
	again.ParamsHash, again.ResourceID = "other", "eice-2"
	want(t, s.PutClientToken(ctx, again), store.ErrConflict, "put twice")
	got, err := s.GetClientToken(ctx, tok.Action, "t1")
	want(t, err, nil, "get")
	same(t, got, tok, "token")
	_, err = s.GetClientToken(ctx, "OtherAction", "t1")
	want(t, err, store.ErrNotFound, "other action")
	_, err = s.GetClientToken(ctx, tok.Action, "T1")
	want(t, err, store.ErrNotFound, "tokens are case-sensitive")
	other := tok
	other.Action = "OtherAction"
	want(t, s.PutClientToken(ctx, other), nil, "same token for another action")
}

func testEC2Rollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx store.Repo) error {
		_, sn, def := network(t, tx, 1)
		if err := tx.SetTags(ctx, sn.VpcID, []store.Tag{{Key: "k", Value: "v"}}); err != nil {
			return err
		}
		if err := tx.CreateInstance(ctx, instanceRec(1, sn, "10.0.1.10", def.GroupID)); err != nil {
			return err
		}
		if err := tx.CreateEndpoint(ctx, endpoint(1, sn, def.GroupID)); err != nil {
			return err
		}
		if err := tx.PutClientToken(ctx, store.ClientToken{Token: "t", Action: "a", CreateDate: ec2Time}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	vs, _ := s.ListVpcs(ctx)
	gs, _ := s.ListSecurityGroups(ctx, "")
	ss, _ := s.ListSubnets(ctx, "")
	is, _ := s.ListInstances(ctx)
	es, _ := s.ListEndpoints(ctx)
	tags, _ := s.ListTags(ctx, nil)
	_, tokErr := s.GetClientToken(ctx, "a", "t")
	if len(vs)+len(gs)+len(ss)+len(is)+len(es)+len(tags) != 0 || !errors.Is(tokErr, store.ErrNotFound) {
		t.Fatalf("rolled-back records remain: %d vpcs %d groups %d subnets %d instances %d endpoints %d tags, token %v",
			len(vs), len(gs), len(ss), len(is), len(es), len(tags), tokErr)
	}
}

// testEC2FailedWriteInTx: a write that fails inside InTx leaves nothing
// behind, and the transaction goes on and commits.
func testEC2FailedWriteInTx(t *testing.T, s store.Store) {
	ctx := context.Background()
	var sn store.Subnet
	var def store.SecurityGroup
	err := s.InTx(ctx, func(tx store.Repo) error {
		_, sn, def = network(t, tx, 1)
		i := instanceRec(1, sn, "10.0.1.10", def.GroupID, "sg-missing")
		i.Tags = []store.Tag{{Key: "Name", Value: "half"}}
		if err := tx.CreateInstance(ctx, i); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("instance with a missing group: %v", err)
		}
		r := rule("sgr-1", def.GroupID, false, "tcp", 22, 22)
		r.CidrIpv4 = "10.0.0.0/8"
		twin := r
		twin.RuleID = "sgr-2"
		if err := tx.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{r, twin}); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("identical rules: %v", err)
		}
		e := endpoint(1, sn, def.GroupID, "sg-missing")
		e.Tags = []store.Tag{{Key: "Name", Value: "half"}}
		if err := tx.CreateEndpoint(ctx, e); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("endpoint with a missing group: %v", err)
		}
		// The failed instance holds neither its id nor its address.
		return tx.CreateInstance(ctx, instanceRec(1, sn, "10.0.1.10", def.GroupID))
	})
	want(t, err, nil, "InTx")
	i, err := s.GetInstance(ctx, fmt.Sprintf("i-%017d", 1))
	want(t, err, nil, "instance created after the failed one")
	same(t, i, instanceRec(1, sn, "10.0.1.10", def.GroupID), "instance")
	rules, _ := s.ListSecurityGroupRules(ctx, nil)
	es, _ := s.ListEndpoints(ctx)
	if len(rules) != 0 || len(es) != 0 {
		t.Fatalf("failed writes left %d rules, %d endpoints", len(rules), len(es))
	}
	noTags(t, s, "failed creates", i.InstanceID, fmt.Sprintf("eice-%017d", 1))
}

// testEC2ReadsFollowWrites: every read reflects every committed write,
// through each kind of write that changes an endpoint listing, and a
// transaction sees its own writes while others do not.
func testEC2ReadsFollowWrites(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, sn, def := network(t, s, 1)
	g2 := sgRec(10, v.VpcID, "eice")
	want(t, s.CreateSecurityGroup(ctx, g2), nil, "group 2")
	e := endpoint(1, sn, def.GroupID, g2.GroupID)
	e.Tags = []store.Tag{{Key: "Name", Value: "e"}}

	check := func(r store.Repo, e *store.Endpoint, what string) {
		t.Helper()
		list, err := r.ListEndpoints(ctx)
		want(t, err, nil, what+": list")
		page, err := r.ListEndpointsPage(ctx, store.EndpointQuery{VpcIDs: []string{v.VpcID}})
		want(t, err, nil, what+": page")
		got, err := r.GetEndpoint(ctx, fmt.Sprintf("eice-%017d", 1))
		if e == nil {
			want(t, err, store.ErrNotFound, what+": get")
			if len(list)+len(page) != 0 {
				t.Fatalf("%s: listed %v and %v, want nothing", what, ids(list, endpointID), ids(page, endpointID))
			}
			return
		}
		want(t, err, nil, what+": get")
		same(t, got, *e, what+": got")
		if len(list) != 1 || len(page) != 1 {
			t.Fatalf("%s: listed %v and %v", what, ids(list, endpointID), ids(page, endpointID))
		}
		same(t, list[0], *e, what+": listed")
		same(t, page[0], *e, what+": paged")
	}

	check(s, nil, "before")
	want(t, s.CreateEndpoint(ctx, e), nil, "create")
	check(s, &e, "created")
	e.State, e.NetworkInterfaceIDs = "create-complete", []string{"eni-1"}
	want(t, s.UpdateEndpoint(ctx, e), nil, "update")
	check(s, &e, "updated")
	want(t, s.SetTags(ctx, e.EndpointID, []store.Tag{{Key: "Name", Value: "renamed"}, {Key: "team", Value: "blue"}}), nil, "set tags")
	e.Tags = []store.Tag{{Key: "Name", Value: "renamed"}, {Key: "team", Value: "blue"}}
	check(s, &e, "tagged")
	want(t, s.DeleteTags(ctx, e.EndpointID, []store.Tag{{Key: "Name"}}), nil, "delete tags")
	e.Tags = []store.Tag{{Key: "team", Value: "blue"}}
	check(s, &e, "untagged")

	// A transaction sees its writes; the others do not until it commits.
	// Then the same writes with other values, committed, and nothing read
	// in between: a backend that kept what the rolled-back transaction
	// read would now serve it.
	boom := errors.New("boom")
	changed := e
	changed.State, changed.StateMessage = "update-in-progress", "moving"
	err := s.InTx(ctx, func(tx store.Repo) error {
		check(tx, &e, "in tx, before its writes")
		check(s, &e, "outside the tx")
		if err := tx.UpdateEndpoint(ctx, changed); err != nil {
			return err
		}
		if err := tx.SetTags(ctx, e.EndpointID, []store.Tag{{Key: "rolled-back", Value: "1"}}); err != nil {
			return err
		}
		changed.Tags = []store.Tag{{Key: "team", Value: "blue"}, {Key: "rolled-back", Value: "1"}}
		check(tx, &changed, "in tx, after its writes")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v", err)
	}
	changed.StateMessage = "moved"
	err = s.InTx(ctx, func(tx store.Repo) error {
		if err := tx.UpdateEndpoint(ctx, changed); err != nil {
			return err
		}
		return tx.SetTags(ctx, e.EndpointID, []store.Tag{{Key: "committed", Value: "2"}})
	})
	want(t, err, nil, "InTx commit")
	changed.Tags = []store.Tag{{Key: "team", Value: "blue"}, {Key: "committed", Value: "2"}}
	e = changed
	check(s, &e, "committed after a rollback")

	e.State, e.DeletedAt = "delete-complete", ec2Time.Add(time.Minute)
	want(t, s.UpdateEndpoint(ctx, e), nil, "mark deleted")
	check(s, &e, "deleted")
	want(t, s.DeleteSecurityGroup(ctx, g2.GroupID), nil, "delete a group of the deleted endpoint")
	e.SecurityGroupIDs = []string{def.GroupID}
	check(s, &e, "group deleted")
	_, err = s.PurgeEndpoints(ctx, ec2Time.Add(time.Hour))
	want(t, err, nil, "purge")
	check(s, nil, "purged")

	e2 := endpoint(1, sn, def.GroupID)
	want(t, s.CreateEndpoint(ctx, e2), nil, "create again")
	check(s, &e2, "created again")
	e2.DeletedAt = ec2Time
	want(t, s.UpdateEndpoint(ctx, e2), nil, "mark deleted again")
	want(t, s.DeleteSubnet(ctx, sn.SubnetID), nil, "delete subnet")
	check(s, nil, "subnet deleted")
}

// testEC2RecordsAreCopies: changing what a read returned changes nothing
// in the store.
func testEC2RecordsAreCopies(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, sn, def := network(t, s, 1)
	g2 := sgRec(10, v.VpcID, "eice")
	want(t, s.CreateSecurityGroup(ctx, g2), nil, "group 2")
	e := endpoint(1, sn, def.GroupID, g2.GroupID)
	e.NetworkInterfaceIDs = []string{"eni-1"}
	e.Tags = []store.Tag{{Key: "Name", Value: "e"}, {Key: "team", Value: "blue"}}
	want(t, s.CreateEndpoint(ctx, e), nil, "create")
	spoil := func(es []store.Endpoint) {
		for i := range es {
			es[i].State = "spoiled"
			es[i].SecurityGroupIDs[0] = "sg-spoiled"
			es[i].Tags[0].Value = "spoiled"
			es[i].NetworkInterfaceIDs = append(es[i].NetworkInterfaceIDs[:0], "eni-spoiled")
			_ = append(es[i].SecurityGroupIDs[:1], "sg-appended")
		}
	}
	for round := range 2 {
		list, err := s.ListEndpoints(ctx)
		want(t, err, nil, "list")
		spoil(list)
		got, err := s.GetEndpoint(ctx, e.EndpointID)
		want(t, err, nil, "get")
		spoil([]store.Endpoint{got})
		page, err := s.ListEndpointsPage(ctx, store.EndpointQuery{Limit: 1})
		want(t, err, nil, "page")
		spoil(page)
		got, _ = s.GetEndpoint(ctx, e.EndpointID)
		same(t, got, e, fmt.Sprint("endpoint after spoiling copies, round ", round))
		list, _ = s.ListEndpoints(ctx)
		same(t, list[0], e, fmt.Sprint("listed endpoint after spoiling copies, round ", round))
	}
}

func testEC2Concurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, sn, def := network(t, s, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for n := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- s.CreateInstance(ctx, instanceRec(n, sn, fmt.Sprintf("10.0.1.%d", 10+n%10), def.GroupID))
		}()
		go func() {
			defer wg.Done()
			sub := subnetRec(100+n, v.VpcID)
			sub.Tags = []store.Tag{{Key: "n", Value: fmt.Sprint(n)}}
			errs <- s.CreateSubnet(ctx, sub)
		}()
	}
	wg.Wait()
	close(errs)
	conflicts := 0
	for err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, store.ErrConflict):
			conflicts++
		default:
			t.Fatalf("concurrent create: %v", err)
		}
	}
	is, _ := s.ListInstances(ctx)
	ss, _ := s.ListSubnets(ctx, v.VpcID)
	if len(is) != 10 || conflicts != 10 || len(ss) != 21 {
		t.Fatalf("instances %d (conflicts %d), subnets %d", len(is), conflicts, len(ss))
	}
	for _, sub := range ss[1:] {
		if len(sub.Tags) != 1 {
			t.Fatalf("subnet %s tags %v", sub.SubnetID, sub.Tags)
		}
	}
}

// testEC2ConcurrentReadWrite: readers listing endpoints while writers
// create them never see an endpoint without its groups, interfaces or
// tags, and everything written is there at the end.
func testEC2ConcurrentReadWrite(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, sn, def := network(t, s, 1)
	g2 := sgRec(10, v.VpcID, "eice")
	want(t, s.CreateSecurityGroup(ctx, g2), nil, "group 2")
	const writers, perWriter, readers = 6, 8, 4
	var done sync.WaitGroup
	done.Add(writers)
	stop := make(chan struct{})
	go func() { done.Wait(); close(stop) }()
	complete := func(es []store.Endpoint) error {
		for _, e := range es {
			if len(e.SecurityGroupIDs) != 2 || len(e.NetworkInterfaceIDs) != 1 || len(e.Tags) != 2 {
				return fmt.Errorf("endpoint %s read half-written: %+v", e.EndpointID, e)
			}
		}
		return nil
	}
	errs := parallel(writers+readers, func(w int) error {
		if w >= writers {
			for {
				select {
				case <-stop:
					return nil
				default:
				}
				es, err := s.ListEndpoints(ctx)
				if err != nil {
					return err
				}
				if err := complete(es); err != nil {
					return err
				}
				page, err := s.ListEndpointsPage(ctx, store.EndpointQuery{Limit: 5, AfterID: "eice-"})
				if err != nil {
					return err
				}
				if err := complete(page); err != nil {
					return err
				}
			}
		}
		defer done.Done()
		for i := range perWriter {
			e := endpoint(w*100+i, sn, def.GroupID, g2.GroupID)
			e.NetworkInterfaceIDs = []string{fmt.Sprintf("eni-%d", w*100+i)}
			e.Tags = []store.Tag{{Key: "Name", Value: e.EndpointID}, {Key: "writer", Value: fmt.Sprint(w)}}
			if err := s.CreateEndpoint(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	for w, err := range errs {
		if err != nil {
			t.Fatalf("goroutine %d: %v", w, err)
		}
	}
	es, err := s.ListEndpoints(ctx)
	want(t, err, nil, "list")
	if len(es) != writers*perWriter {
		t.Fatalf("listed %d endpoints, want %d", len(es), writers*perWriter)
	}
	if err := complete(es); err != nil {
		t.Fatal(err)
	}
}
