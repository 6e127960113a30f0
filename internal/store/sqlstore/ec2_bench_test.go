package sqlstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// seedEndpoints fills s with one VPC, one subnet, two security groups and
// n endpoints that each name both groups and carry two tags; unrelated
// tags of other resources (instances) sit in the same table so that the
// listing has to pick the endpoints' tags out.
func seedEndpoints(b testing.TB, s *Store, n int) {
	ctx := b.Context()
	now := time.Now()
	err := s.InTx(ctx, func(tx store.Repo) error {
		if err := tx.CreateVpc(ctx, store.Vpc{VpcID: "vpc-00000000000000001", CidrBlock: "10.0.0.0/16", State: "available", CreateDate: now}); err != nil {
			return err
		}
		for _, g := range []string{"sg-00000000000000001", "sg-00000000000000002"} {
			if err := tx.CreateSecurityGroup(ctx, store.SecurityGroup{GroupID: g, GroupName: g, VpcID: "vpc-00000000000000001", CreateDate: now}); err != nil {
				return err
			}
		}
		if err := tx.CreateSubnet(ctx, store.Subnet{SubnetID: "subnet-00000000000000001", VpcID: "vpc-00000000000000001",
			CidrBlock: "10.0.0.0/20", AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az1", State: "available", CreateDate: now}); err != nil {
			return err
		}
		for i := range n {
			id := fmt.Sprintf("eice-%017x", i)
			if err := tx.CreateEndpoint(ctx, store.Endpoint{
				EndpointID: id, ARN: "arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/" + id, OwnerID: "123456789012",
				State: "create-complete", DNSName: id + ".example", FipsDNSName: id + ".fips.example",
				SubnetID: "subnet-00000000000000001", VpcID: "vpc-00000000000000001",
				AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az1", PreserveClientIP: true, IPAddressType: "ipv4",
				SecurityGroupIDs:    []string{"sg-00000000000000001", "sg-00000000000000002"},
				NetworkInterfaceIDs: []string{fmt.Sprintf("eni-%017x", i)},
				ClientToken:         fmt.Sprint("token-", i), CreatedAt: now,
				Tags: []store.Tag{{Key: "Name", Value: fmt.Sprint("endpoint ", i)}, {Key: "team", Value: "blue"}},
			}); err != nil {
				return err
			}
			if err := tx.SetTags(ctx, fmt.Sprintf("i-%017x", i), []store.Tag{{Key: "Name", Value: "unrelated"}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkListEndpoints lists 1,000 endpoints, each with two security
// groups, one network interface and two tags, with 1,000 tags of other
// resources in the same table. "cached" is the steady state (the listing
// unchanged since the last read); "uncached" drops the cached listing
// before every call, as the first read after any endpoint write does.
func BenchmarkListEndpoints(b *testing.B) {
	const n = 1000
	s, _ := openTemp(b, defaultSQLiteOptions())
	seedEndpoints(b, s, n)
	ctx := b.Context()
	for _, cached := range []bool{true, false} {
		name := "cached"
		if !cached {
			name = "uncached"
		}
		reset := func() {
			if !cached {
				s.endpoints.publish(nil)
			}
		}
		b.Run("list/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				reset()
				es, err := s.ListEndpoints(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if last := es[len(es)-1]; len(es) != n || len(last.SecurityGroupIDs) != 2 || len(last.Tags) != 2 || len(last.NetworkInterfaceIDs) != 1 {
					b.Fatalf("listed %d endpoints, last %+v", len(es), last)
				}
			}
		})
		b.Run("list-parallel/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					reset()
					if es, err := s.ListEndpoints(ctx); err != nil || len(es) != n {
						b.Errorf("listed %d: %v", len(es), err)
						return
					}
				}
			})
		})
		b.Run("page50/"+name, func(b *testing.B) {
			b.ReportAllocs()
			q := store.EndpointQuery{AfterID: fmt.Sprintf("eice-%017x", n/2), Limit: 50}
			for b.Loop() {
				reset()
				if es, err := s.ListEndpointsPage(ctx, q); err != nil || len(es) != 50 {
					b.Fatalf("page of %d: %v", len(es), err)
				}
			}
		})
		b.Run("get/"+name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				reset()
				if _, err := s.GetEndpoint(ctx, fmt.Sprintf("eice-%017x", i%n)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		if cached { // warm the cache for the next round's reset to drop
			if _, err := s.ListEndpoints(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}
