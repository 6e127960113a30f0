package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

var ec2Time = time.Date(2026, 11, 22, 11, 46, 33, 18000000, time.UTC)

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
}

// network makes a VPC with a default group and a subnet.
func network(t *testing.T, s store.Store, n int) (store.Vpc, store.Subnet, store.SecurityGroup) {
	t.Helper()
	ctx := context.Background()
	v := store.Vpc{VpcID: fmt.Sprintf("vpc-%017d", n), CidrBlock: "10.0.0.0/16", State: "available", CreateDate: ec2Time}
	want(t, s.CreateVpc(ctx, v), nil, "create vpc")
	g := store.SecurityGroup{GroupID: fmt.Sprintf("sg-%017d", n), GroupName: "default", Description: "default VPC security group", VpcID: v.VpcID, IsDefault: true, CreateDate: ec2Time}
	want(t, s.CreateSecurityGroup(ctx, g), nil, "create default group")
	sn := store.Subnet{SubnetID: fmt.Sprintf("subnet-%017d", n), VpcID: v.VpcID, CidrBlock: "10.0.1.0/24", AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az1", State: "available", CreateDate: ec2Time}
	want(t, s.CreateSubnet(ctx, sn), nil, "create subnet")
	return v, sn, g
}

func testVpcsSubnets(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, sn, _ := network(t, s, 1)
	v.Tags = []store.Tag{{Key: "Name", Value: "main"}}
	want(t, s.SetTags(ctx, v.VpcID, v.Tags), nil, "tag vpc")
	got, err := s.GetVpc(ctx, v.VpcID)
	want(t, err, nil, "get vpc")
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("vpc %+v, want %+v", got, v)
	}
	want(t, s.CreateVpc(ctx, v), store.ErrConflict, "duplicate vpc")
	_, err = s.GetVpc(ctx, "vpc-missing")
	want(t, err, store.ErrNotFound, "missing vpc")
	want(t, s.CreateSubnet(ctx, store.Subnet{SubnetID: "subnet-x", VpcID: "vpc-missing", CidrBlock: "10.9.0.0/24", CreateDate: ec2Time}), store.ErrNotFound, "subnet in missing vpc")
	gs, err := s.GetSubnet(ctx, sn.SubnetID)
	want(t, err, nil, "get subnet")
	if !reflect.DeepEqual(gs, sn) {
		t.Fatalf("subnet %+v, want %+v", gs, sn)
	}
	v2, _, _ := network(t, s, 2)
	all, err := s.ListSubnets(ctx, "")
	want(t, err, nil, "list subnets")
	in1, err := s.ListSubnets(ctx, v.VpcID)
	want(t, err, nil, "list subnets of vpc")
	if len(all) != 2 || len(in1) != 1 || all[0].SubnetID > all[1].SubnetID {
		t.Fatalf("subnets all %d in vpc %d", len(all), len(in1))
	}
	vs, err := s.ListVpcs(ctx)
	want(t, err, nil, "list vpcs")
	if len(vs) != 2 || vs[0].VpcID != v.VpcID || len(vs[0].Tags) != 1 || vs[1].VpcID != v2.VpcID {
		t.Fatalf("vpcs %+v", vs)
	}
	want(t, s.DeleteVpc(ctx, v.VpcID), store.ErrInUse, "delete vpc with subnet")
	want(t, s.DeleteSubnet(ctx, sn.SubnetID), nil, "delete subnet")
	want(t, s.DeleteSubnet(ctx, sn.SubnetID), store.ErrNotFound, "delete subnet twice")
	want(t, s.DeleteVpc(ctx, v.VpcID), nil, "delete vpc (its default group goes with it)")
	if _, err := s.GetSecurityGroup(ctx, fmt.Sprintf("sg-%017d", 1)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("default group outlived its vpc: %v", err)
	}
	tags, err := s.ListTags(ctx, []string{v.VpcID})
	want(t, err, nil, "list tags")
	if len(tags) != 0 {
		t.Fatalf("tags outlived their vpc: %v", tags)
	}
	want(t, s.DeleteVpc(ctx, v.VpcID), store.ErrNotFound, "delete vpc twice")
}

func testSecurityGroups(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, _, def := network(t, s, 1)
	g := store.SecurityGroup{GroupID: "sg-00000000000000aaa", GroupName: "Web", Description: "web", VpcID: v.VpcID, CreateDate: ec2Time}
	want(t, s.CreateSecurityGroup(ctx, g), nil, "create group")
	dup := g
	dup.GroupID, dup.GroupName = "sg-00000000000000bbb", "WEB"
	want(t, s.CreateSecurityGroup(ctx, dup), store.ErrConflict, "same name in vpc, other case")
	byName, err := s.GetSecurityGroupByName(ctx, v.VpcID, "web")
	want(t, err, nil, "by name")
	if byName.GroupID != g.GroupID || byName.GroupName != "Web" {
		t.Fatalf("by name %+v", byName)
	}
	rules := []store.SecurityGroupRule{
		{RuleID: "sgr-1", GroupID: g.GroupID, IpProtocol: "tcp", FromPort: 22, ToPort: 22, CidrIpv4: "10.0.0.0/16"},
		{RuleID: "sgr-2", GroupID: g.GroupID, IsEgress: true, IpProtocol: "-1", FromPort: -1, ToPort: -1, CidrIpv4: "0.0.0.0/0"},
		{RuleID: "sgr-3", GroupID: def.GroupID, IpProtocol: "tcp", FromPort: 22, ToPort: 22, ReferencedGroupID: g.GroupID},
	}
	want(t, s.AddSecurityGroupRules(ctx, rules), nil, "add rules")
	same := rules[0]
	same.RuleID = "sgr-9"
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{same}), store.ErrConflict, "identical rule")
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{{RuleID: "sgr-8", GroupID: g.GroupID, IpProtocol: "tcp", ReferencedGroupID: "sg-missing"}}), store.ErrNotFound, "rule naming a missing group")
	want(t, s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{{RuleID: "sgr-7", GroupID: "sg-missing", IpProtocol: "tcp", CidrIpv4: "1.2.3.4/32"}}), store.ErrNotFound, "rule on a missing group")
	got, err := s.ListSecurityGroupRules(ctx, []string{g.GroupID})
	want(t, err, nil, "list rules")
	if !reflect.DeepEqual(got, rules[:2]) {
		t.Fatalf("rules %+v", got)
	}
	want(t, s.DeleteSecurityGroup(ctx, g.GroupID), store.ErrInUse, "group referenced by another group's rule")
	want(t, s.RemoveSecurityGroupRules(ctx, []string{"sgr-3"}), nil, "remove rule")
	want(t, s.RemoveSecurityGroupRules(ctx, []string{"sgr-3"}), store.ErrNotFound, "remove rule twice")
	want(t, s.DeleteSecurityGroup(ctx, g.GroupID), nil, "delete group")
	left, err := s.ListSecurityGroupRules(ctx, nil)
	want(t, err, nil, "list all rules")
	if len(left) != 0 {
		t.Fatalf("rules outlived their group: %+v", left)
	}
	gs, err := s.ListSecurityGroups(ctx, v.VpcID)
	want(t, err, nil, "list groups")
	if len(gs) != 1 || !gs[0].IsDefault {
		t.Fatalf("groups %+v", gs)
	}
}

func testInstances(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, sn, def := network(t, s, 1)
	i := store.Instance{InstanceID: "i-0000000000000001", SubnetID: sn.SubnetID, VpcID: v.VpcID, PrivateIPAddress: "10.0.1.10",
		AvailabilityZone: "us-east-1a", State: "running", SecurityGroupIDs: []string{def.GroupID}, LaunchTime: ec2Time,
		Tags: []store.Tag{{Key: "Name", Value: "web"}, {Key: "env", Value: "prod"}}}
	want(t, s.CreateInstance(ctx, i), nil, "create instance")
	got, err := s.GetInstance(ctx, i.InstanceID)
	want(t, err, nil, "get instance")
	if !reflect.DeepEqual(got, i) {
		t.Fatalf("instance %+v, want %+v", got, i)
	}
	other := i
	other.InstanceID = "i-0000000000000002"
	other.Tags = nil
	want(t, s.CreateInstance(ctx, other), store.ErrConflict, "same private ip in the vpc")
	other.PrivateIPAddress, other.SecurityGroupIDs = "10.0.1.11", []string{"sg-missing"}
	want(t, s.CreateInstance(ctx, other), store.ErrNotFound, "missing security group")
	other.SecurityGroupIDs, other.SubnetID = []string{def.GroupID}, "subnet-missing"
	want(t, s.CreateInstance(ctx, other), store.ErrNotFound, "missing subnet")
	want(t, s.DeleteSubnet(ctx, sn.SubnetID), store.ErrInUse, "subnet with instance")
	want(t, s.DeleteSecurityGroup(ctx, def.GroupID), store.ErrInUse, "group used by instance")
	g2 := store.SecurityGroup{GroupID: "sg-00000000000000ccc", GroupName: "ssh", Description: "ssh", VpcID: v.VpcID, CreateDate: ec2Time}
	want(t, s.CreateSecurityGroup(ctx, g2), nil, "group 2")
	want(t, s.SetInstanceSecurityGroups(ctx, i.InstanceID, []string{g2.GroupID, def.GroupID}), nil, "set groups")
	got, _ = s.GetInstance(ctx, i.InstanceID)
	if !reflect.DeepEqual(got.SecurityGroupIDs, []string{g2.GroupID, def.GroupID}) {
		t.Fatalf("groups %v", got.SecurityGroupIDs)
	}
	want(t, s.SetInstanceSecurityGroups(ctx, "i-missing", nil), store.ErrNotFound, "set groups of missing instance")
	list, err := s.ListInstances(ctx)
	want(t, err, nil, "list")
	if len(list) != 1 || len(list[0].Tags) != 2 {
		t.Fatalf("instances %+v", list)
	}
	want(t, s.DeleteInstance(ctx, i.InstanceID), nil, "delete instance")
	want(t, s.DeleteInstance(ctx, i.InstanceID), store.ErrNotFound, "delete instance twice")
	want(t, s.DeleteSubnet(ctx, sn.SubnetID), nil, "subnet free again")
}

func endpoint(n int, sn store.Subnet, groups ...string) store.Endpoint {
	id := fmt.Sprintf("eice-%017d", n)
	return store.Endpoint{EndpointID: id, ARN: "arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/" + id, OwnerID: "123456789012",
		State: "create-in-progress", DNSName: "localhost", FipsDNSName: "localhost", SubnetID: sn.SubnetID, VpcID: sn.VpcID,
		AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az1", IPAddressType: "ipv4", SecurityGroupIDs: groups,
		ClientToken: fmt.Sprint("token-", n), CreatedAt: ec2Time}
}

func testEndpoints(t *testing.T, s store.Store) {
	ctx := context.Background()
	v, sn, def := network(t, s, 1)
	e := endpoint(1, sn, def.GroupID)
	e.Tags = []store.Tag{{Key: "Name", Value: "e"}}
	want(t, s.CreateEndpoint(ctx, e), nil, "create endpoint")
	got, err := s.GetEndpoint(ctx, e.EndpointID)
	want(t, err, nil, "get endpoint")
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("endpoint\n %+v\nwant %+v", got, e)
	}
	want(t, s.CreateEndpoint(ctx, e), store.ErrConflict, "duplicate endpoint")
	bad := endpoint(2, sn, "sg-missing")
	want(t, s.CreateEndpoint(ctx, bad), store.ErrNotFound, "endpoint with missing group")
	want(t, s.DeleteSubnet(ctx, sn.SubnetID), store.ErrInUse, "subnet with endpoint")
	e.State, e.NetworkInterfaceIDs, e.PreserveClientIP = "create-complete", []string{"eni-1", "eni-2"}, true
	want(t, s.UpdateEndpoint(ctx, e), nil, "update")
	got, _ = s.GetEndpoint(ctx, e.EndpointID)
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("updated endpoint\n %+v\nwant %+v", got, e)
	}
	want(t, s.UpdateEndpoint(ctx, endpoint(9, sn)), store.ErrNotFound, "update missing")
	e.State, e.DeletedAt, e.NetworkInterfaceIDs = "delete-complete", ec2Time.Add(time.Minute), nil
	want(t, s.UpdateEndpoint(ctx, e), nil, "mark deleted")
	list, err := s.ListEndpoints(ctx)
	want(t, err, nil, "list")
	if len(list) != 1 || list[0].DeletedAt.IsZero() {
		t.Fatalf("deleted endpoint not listed: %+v", list)
	}
	n, err := s.PurgeEndpoints(ctx, ec2Time)
	want(t, err, nil, "purge none")
	if n != 0 {
		t.Fatalf("purged %d too early", n)
	}
	n, err = s.PurgeEndpoints(ctx, ec2Time.Add(2*time.Minute))
	want(t, err, nil, "purge")
	if n != 1 {
		t.Fatalf("purged %d", n)
	}
	_, err = s.GetEndpoint(ctx, e.EndpointID)
	want(t, err, store.ErrNotFound, "purged endpoint")
	want(t, s.DeleteVpc(ctx, v.VpcID), store.ErrInUse, "vpc still has its subnet")
}

func testResourceTags(t *testing.T, s store.Store) {
	ctx := context.Background()
	want(t, s.SetTags(ctx, "i-1", []store.Tag{{Key: "b", Value: "1"}, {Key: "a", Value: "2"}}), nil, "set")
	want(t, s.SetTags(ctx, "i-1", []store.Tag{{Key: "b", Value: "3"}, {Key: "c", Value: "4"}}), nil, "overwrite and append")
	want(t, s.SetTags(ctx, "i-2", []store.Tag{{Key: "x", Value: ""}}), nil, "other resource")
	tags, err := s.ListTags(ctx, []string{"i-1"})
	want(t, err, nil, "list")
	if w := []store.Tag{{Key: "b", Value: "3"}, {Key: "a", Value: "2"}, {Key: "c", Value: "4"}}; !reflect.DeepEqual(tags["i-1"], w) {
		t.Fatalf("tags %v, want %v", tags["i-1"], w)
	}
	want(t, s.DeleteTags(ctx, "i-1", []store.Tag{{Key: "a", Value: "wrong"}}), nil, "delete with other value")
	want(t, s.DeleteTags(ctx, "i-1", []store.Tag{{Key: "c"}}), nil, "delete by key")
	all, err := s.ListTags(ctx, nil)
	want(t, err, nil, "list all")
	if len(all) != 2 || len(all["i-1"]) != 2 || len(all["i-2"]) != 1 {
		t.Fatalf("all tags %v", all)
	}
}

func testClientTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := store.ClientToken{Token: "t1", Action: "CreateInstanceConnectEndpoint", ParamsHash: "h", ResourceID: "eice-1", CreateDate: ec2Time}
	want(t, s.PutClientToken(ctx, tok), nil, "put")
	want(t, s.PutClientToken(ctx, tok), store.ErrConflict, "put twice")
	got, err := s.GetClientToken(ctx, tok.Action, "t1")
	want(t, err, nil, "get")
	if !reflect.DeepEqual(got, tok) {
		t.Fatalf("token %+v", got)
	}
	_, err = s.GetClientToken(ctx, "OtherAction", "t1")
	want(t, err, store.ErrNotFound, "other action")
}

func testEC2Rollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx store.Repo) error {
		if err := tx.CreateVpc(ctx, store.Vpc{VpcID: "vpc-r", CidrBlock: "10.0.0.0/16", State: "available", CreateDate: ec2Time}); err != nil {
			return err
		}
		if err := tx.CreateSecurityGroup(ctx, store.SecurityGroup{GroupID: "sg-r", GroupName: "default", VpcID: "vpc-r", IsDefault: true, CreateDate: ec2Time}); err != nil {
			return err
		}
		if err := tx.CreateSubnet(ctx, store.Subnet{SubnetID: "subnet-r", VpcID: "vpc-r", CidrBlock: "10.0.0.0/24", CreateDate: ec2Time}); err != nil {
			return err
		}
		if err := tx.SetTags(ctx, "vpc-r", []store.Tag{{Key: "k", Value: "v"}}); err != nil {
			return err
		}
		return boom
	})
	want(t, err, boom, "InTx")
	vs, _ := s.ListVpcs(ctx)
	gs, _ := s.ListSecurityGroups(ctx, "")
	ss, _ := s.ListSubnets(ctx, "")
	tags, _ := s.ListTags(ctx, nil)
	if len(vs)+len(gs)+len(ss)+len(tags) != 0 {
		t.Fatalf("rolled-back records remain: %d vpcs %d groups %d subnets %d tags", len(vs), len(gs), len(ss), len(tags))
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
			errs <- s.CreateInstance(ctx, store.Instance{InstanceID: fmt.Sprintf("i-%016d", n), SubnetID: sn.SubnetID, VpcID: v.VpcID,
				PrivateIPAddress: fmt.Sprintf("10.0.1.%d", 10+n%10), State: "running", SecurityGroupIDs: []string{def.GroupID}, LaunchTime: ec2Time})
		}()
		go func() {
			defer wg.Done()
			errs <- s.CreateSubnet(ctx, store.Subnet{SubnetID: fmt.Sprintf("subnet-c%016d", n), VpcID: v.VpcID, CidrBlock: fmt.Sprintf("10.0.%d.0/24", 100+n), CreateDate: ec2Time})
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
	ids := func(es []store.Endpoint) []string {
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
		{"vpc", store.EndpointQuery{VpcIDs: []string{sn1.VpcID}}, []string{"0", "2", "4"}},
		{"subnet and state", store.EndpointQuery{SubnetIDs: []string{sn1.SubnetID}, States: []string{"create-complete"}}, []string{"4"}},
		{"ids", store.EndpointQuery{IDs: []string{fmt.Sprintf("eice-%017d", 5), fmt.Sprintf("eice-%017d", 3)}}, []string{"3", "5"}},
		{"none", store.EndpointQuery{States: []string{"update-failed"}}, nil},
	}
	for _, tc := range tests {
		got, err := s.ListEndpointsPage(ctx, tc.q)
		want(t, err, nil, tc.name)
		if !reflect.DeepEqual(ids(got), tc.want) {
			t.Fatalf("%s: got %v, want %v", tc.name, ids(got), tc.want)
		}
		for _, e := range got {
			if len(e.Tags) != 1 || len(e.SecurityGroupIDs) != 1 {
				t.Fatalf("%s: children not loaded: %+v", tc.name, e)
			}
		}
	}
}
