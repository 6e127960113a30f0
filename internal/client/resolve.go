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

// OpError is a failed API call of the lookup; Op names the operation
// (DescribeInstances, DescribeInstanceConnectEndpoints), so a message
// names the call that was refused, not the command's first.
type OpError struct {
	Op  string
	Err error
}

func (e *OpError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// waitingForAgent words an endpoint that is not yet usable because no
// agent has joined it (create-in-progress), with the commands that start
// one.
func waitingForAgent(id string) *ResolveError {
	return &ResolveError{fmt.Sprintf("The instance connect endpoint %s is create-in-progress: it needs an endpoint agent. "+
		"Create a join token with \"postern ec2 create-endpoint-join-token --instance-connect-endpoint-id %s\" "+
		"and run \"postern endpoint-agent --join-token TOKEN\" on a machine in its network.", id, id)}
}

// pendingEndpoint returns the id of an endpoint matching filters that is
// waiting for its first agent, or "".
func pendingEndpoint(ctx context.Context, api *ec2.Client, in *ec2.DescribeInstanceConnectEndpointsInput) (string, error) {
	in.Filters = append(in.Filters, ec2types.Filter{Name: aws.String("state"), Values: []string{"create-in-progress"}})
	out, err := api.DescribeInstanceConnectEndpoints(ctx, in)
	if err != nil {
		return "", &OpError{"DescribeInstanceConnectEndpoints", err}
	}
	if len(out.InstanceConnectEndpoints) == 0 {
		return "", nil
	}
	return aws.ToString(out.InstanceConnectEndpoints[0].InstanceConnectEndpointId), nil
}

// Resolve fills in what t lacks as the AWS CLI does (docs/aws-compat.md §1.8): without
// a private IP it describes the instance (VPC, subnet, private IPv4, else
// IPv6); without a DNS name it looks the endpoint up: by id when given,
// otherwise the first usable endpoint of the instance's VPC, one in the
// instance's subnet first.
//
// When both look-ups are needed and the endpoint is named by id, neither
// depends on the other: the endpoint's is made concurrently with the
// instance's, so that the two cost one round trip instead of two. The
// answer is the one the calls made in turn would give: the instance's
// error first, then the endpoint's.
func Resolve(ctx context.Context, api *ec2.Client, t *Target) error {
	if t.PrivateIP == "" && t.InstanceID == "" {
		return &ResolveError{"An instance id or a private IP address is required."}
	}
	if t.DNSName != "" && t.EndpointID == "" {
		if t.PrivateIP == "" {
			if _, _, err := describeInstance(ctx, api, t); err != nil {
				return err
			}
		}
		return &ResolveError{"--instance-connect-endpoint-dns-name needs --instance-connect-endpoint-id."}
	}
	if t.PrivateIP != "" {
		return ResolveEndpoint(ctx, api, t, "", "")
	}
	if t.DNSName != "" || t.EndpointID == "" {
		vpcID, subnetID, err := describeInstance(ctx, api, t)
		if err != nil {
			return err
		}
		return ResolveEndpoint(ctx, api, t, vpcID, subnetID)
	}
	// Both look-ups, independent: the endpoint's on its own goroutine,
	// on a copy of t, cancelled when the instance's fails.
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	et := *t
	done := make(chan error, 1)
	go func() { done <- ResolveEndpoint(ectx, api, &et, "", "") }()
	_, _, err := describeInstance(ctx, api, t)
	if err != nil {
		cancel()
		<-done
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	t.DNSName = et.DNSName
	return nil
}

// describeInstance describes t's instance and fills in t.PrivateIP (its
// private IPv4 address, else its IPv6 one); it returns the instance's VPC
// and subnet.
func describeInstance(ctx context.Context, api *ec2.Client, t *Target) (vpcID, subnetID string, err error) {
	out, err := api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{t.InstanceID}})
	if err != nil {
		return "", "", &OpError{"DescribeInstances", err}
	}
	if len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 {
		return "", "", &ResolveError{fmt.Sprintf("The instance ID '%s' does not exist.", t.InstanceID)}
	}
	inst := out.Reservations[0].Instances[0]
	ip := aws.ToString(inst.PrivateIpAddress)
	if ip == "" {
		ip = aws.ToString(inst.Ipv6Address)
	}
	if ip == "" {
		return "", "", &ResolveError{"Unable to find any IP address on the instance to connect to."}
	}
	t.PrivateIP = ip
	return aws.ToString(inst.VpcId), aws.ToString(inst.SubnetId), nil
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
			return &OpError{"DescribeInstanceConnectEndpoints", err}
		}
		if len(out.InstanceConnectEndpoints) == 0 {
			pending, err := pendingEndpoint(ctx, api, &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{t.EndpointID}})
			if err != nil {
				return err
			}
			if pending != "" {
				return waitingForAgent(pending)
			}
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
			return &OpError{"DescribeInstanceConnectEndpoints", err}
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
		pending, err := pendingEndpoint(ctx, api, &ec2.DescribeInstanceConnectEndpointsInput{
			Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}})
		if err != nil {
			return err
		}
		if pending != "" {
			return waitingForAgent(pending)
		}
		return &ResolveError{"There are no available instance connect endpoints."}
	}
	t.EndpointID, t.DNSName = aws.ToString(first.InstanceConnectEndpointId), aws.ToString(first.DnsName)
	return nil
}
