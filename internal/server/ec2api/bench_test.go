package ec2api

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/postern/postern/internal/server/eice"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/util/sdkreq"
)

// benchClient is h's SDK client as admin with the API option Postern's own
// clients add to every call (sdkreq.BodyWithoutWriteTo). Why: with the
// recorder not keeping bodies, smithy-go's request body reaches net/http
// as is, and its WriteTo answers io.EOF once the SDK has closed it; when
// the server answered before net/http's last copy of the body, the
// transport took that EOF for a write error and closed the connection
// under the response being read ("use of closed network connection" in
// 6 of 20 runs of this benchmark under load).
func benchClient(h *harness) *ec2.Client {
	return ec2.New(h.ec2.Options(), func(o *ec2.Options) {
		o.APIOptions = append(o.APIOptions, sdkreq.BodyWithoutWriteTo)
	})
}

// BenchmarkDescribeInstanceConnectEndpoints1000 measures signed
// DescribeInstanceConnectEndpoints calls made in parallel with the AWS SDK
// for Go v2 against a store holding 1,000 endpoints (inserted directly,
// past the quotas): the whole list in one answer, the first page of 50,
// and one endpoint by id.
func BenchmarkDescribeInstanceConnectEndpoints1000(b *testing.B) {
	h := newHarness(b)
	h.rec.keep = false
	client := benchClient(h)
	ctx := context.Background()
	vpc := store.Vpc{VpcID: "vpc-0000000000000b001", CidrBlock: "10.0.0.0/16", State: stateAvailable, CreateDate: startTime}
	sn := store.Subnet{SubnetID: "subnet-0000000000000b001", VpcID: vpc.VpcID, CidrBlock: "10.0.1.0/24",
		AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az1", State: stateAvailable, CreateDate: startTime}
	g := store.SecurityGroup{GroupID: "sg-0000000000000b001", GroupName: "default", Description: defaultGroupDescription, VpcID: vpc.VpcID, IsDefault: true, CreateDate: startTime}
	const n = 1000
	err := h.st.InTx(ctx, func(tx store.Repo) error {
		if err := tx.CreateVpc(ctx, vpc); err != nil {
			return err
		}
		if err := tx.CreateSubnet(ctx, sn); err != nil {
			return err
		}
		if err := tx.CreateSecurityGroup(ctx, g); err != nil {
			return err
		}
		for i := range n {
			id := fmt.Sprintf("eice-%017x", 0xe000+i)
			e := store.Endpoint{
				EndpointID: id, ARN: "arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/" + id, OwnerID: testAccount,
				State: eice.CreateComplete, DNSName: testDNSName, FipsDNSName: testDNSName, SubnetID: sn.SubnetID, VpcID: vpc.VpcID,
				AvailabilityZone: sn.AvailabilityZone, AvailabilityZoneID: sn.AvailabilityZoneID, IPAddressType: ipTypeIPv4,
				SecurityGroupIDs: []string{g.GroupID}, NetworkInterfaceIDs: []string{fmt.Sprintf("eni-%017x", i)}, CreatedAt: startTime,
			}
			if err := tx.CreateEndpoint(ctx, e); err != nil {
				return err
			}
			if err := tx.SetTags(ctx, id, []store.Tag{{Key: "Name", Value: fmt.Sprintf("endpoint %d", i)}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	benches := []struct {
		name string
		in   func() *ec2.DescribeInstanceConnectEndpointsInput
		want int
	}{
		{"all", func() *ec2.DescribeInstanceConnectEndpointsInput { return &ec2.DescribeInstanceConnectEndpointsInput{} }, n},
		{"page50", func() *ec2.DescribeInstanceConnectEndpointsInput {
			return &ec2.DescribeInstanceConnectEndpointsInput{MaxResults: aws.Int32(50)}
		}, 50},
		{"byID", func() *ec2.DescribeInstanceConnectEndpointsInput {
			return &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{fmt.Sprintf("eice-%017x", 0xe000+500)}}
		}, 1},
	}
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			out, err := client.DescribeInstanceConnectEndpoints(ctx, bc.in())
			if err != nil || len(out.InstanceConnectEndpoints) != bc.want {
				n := 0
				if out != nil {
					n = len(out.InstanceConnectEndpoints)
				}
				b.Fatalf("%v, %d endpoints", err, n)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := client.DescribeInstanceConnectEndpoints(ctx, bc.in()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
