package client

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// usableStates are the endpoint states the AWS CLI's lookup asks for.
var usableStates = []string{"create-complete", "update-in-progress", "update-failed", "update-complete"}

// ResolveError is a failed lookup, worded as the AWS CLI words it.
type ResolveError struct{ Message string }

func (e *ResolveError) Error() string { return e.Message }

// Resolve fills in what t lacks as the AWS CLI does (docs/aws-compat.md §1.8): without
// a private IP it describes the instance (VPC, subnet, private IPv4, else
// IPv6); without a DNS name it looks the endpoint up: by id when given,
// otherwise the first usable endpoint of the instance's VPC, one in the
// instance's subnet first.
func Resolve(ctx context.Context, api *ec2.Client, t *Target) error {
	var vpcID, subnetID string
	if t.PrivateIP == "" {
		if t.InstanceID == "" {
			return &ResolveError{"An instance id or a private IP address is required."}
		}
		out, err := api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{t.InstanceID}})
		if err != nil {
			return err
		}
		if len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 {
			return &ResolveError{fmt.Sprintf("The instance ID '%s' does not exist.", t.InstanceID)}
		}
		inst := out.Reservations[0].Instances[0]
		vpcID, subnetID = aws.ToString(inst.VpcId), aws.ToString(inst.SubnetId)
		t.PrivateIP = aws.ToString(inst.PrivateIpAddress)
		if t.PrivateIP == "" {
			t.PrivateIP = aws.ToString(inst.Ipv6Address)
		}
		if t.PrivateIP == "" {
			return &ResolveError{"Unable to find any IP address on the instance to connect to."}
		}
	}
	if t.DNSName != "" {
		if t.EndpointID == "" {
			return &ResolveError{"--instance-connect-endpoint-dns-name needs --instance-connect-endpoint-id."}
		}
		return nil
	}
	return ResolveEndpoint(ctx, api, t, vpcID, subnetID)
}

// ResolveEndpoint fills in t's endpoint id and DNS name: by id when t names
// one, otherwise the first usable endpoint of the VPC, one in the subnet
// first (docs/aws-compat.md §1.8).
func ResolveEndpoint(ctx context.Context, api *ec2.Client, t *Target, vpcID, subnetID string) error {
	if t.DNSName != "" && t.EndpointID != "" {
		return nil
	}
	stateFilter := ec2types.Filter{Name: aws.String("state"), Values: usableStates}
	if t.EndpointID != "" {
		out, err := api.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{
			InstanceConnectEndpointIds: []string{t.EndpointID}, Filters: []ec2types.Filter{stateFilter}})
		if err != nil {
			return err
		}
		if len(out.InstanceConnectEndpoints) == 0 {
			return &ResolveError{"There are no available instance connect endpoints with " + t.EndpointID}
		}
		t.DNSName = aws.ToString(out.InstanceConnectEndpoints[0].DnsName)
		return nil
	}
	if vpcID == "" {
		return &ResolveError{"An instance connect endpoint id is required with a private IP address."}
	}
	var first *ec2types.Ec2InstanceConnectEndpoint
	p := ec2.NewDescribeInstanceConnectEndpointsPaginator(api, &ec2.DescribeInstanceConnectEndpointsInput{
		Filters: []ec2types.Filter{stateFilter, {Name: aws.String("vpc-id"), Values: []string{vpcID}}}})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for i := range out.InstanceConnectEndpoints {
			e := &out.InstanceConnectEndpoints[i]
			if aws.ToString(e.SubnetId) == subnetID {
				t.EndpointID, t.DNSName = aws.ToString(e.InstanceConnectEndpointId), aws.ToString(e.DnsName)
				return nil
			}
			if first == nil {
				first = e
			}
		}
	}
	if first == nil {
		return &ResolveError{"There are no available instance connect endpoints."}
	}
	t.EndpointID, t.DNSName = aws.ToString(first.InstanceConnectEndpointId), aws.ToString(first.DnsName)
	return nil
}
