package cli

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestOutputModelOrder: an SDK operation's output prints its members in
// the AWS model's order, as the AWS CLI (botocore parses a response into
// dicts in shape member order), nested structures included; a paged
// listing's merged result keeps botocore's build_full_result order
// (result lists, then NextToken), though the model puts NextToken first.
func TestOutputModelOrder(t *testing.T) {
	group := ec2types.SecurityGroup{GroupId: aws.String("sg-1"), GroupName: aws.String("web"), OwnerId: aws.String("123456789012"),
		Description: aws.String("d"), VpcId: aws.String("vpc-1")}
	pg, ok := findPaginator(reflect.TypeOf(ec2.DescribeSecurityGroupsInput{}), reflect.TypeOf(ec2.DescribeSecurityGroupsOutput{}))
	if !ok {
		t.Fatal("DescribeSecurityGroups does not page")
	}
	paged := newResult(reflect.TypeOf(ec2.DescribeSecurityGroupsOutput{}), pg)
	paged.Elem().FieldByName("SecurityGroups").Set(reflect.ValueOf([]ec2types.SecurityGroup{group}))
	paged.Elem().FieldByName("NextToken").Set(reflect.ValueOf(aws.String("tok")))

	tests := []struct {
		name, service, shape string
		out                  reflect.Value
		want                 string
	}{
		{"endpoint", "ec2", "DescribeInstanceConnectEndpointsOutput", reflect.ValueOf(&ec2.DescribeInstanceConnectEndpointsOutput{
			InstanceConnectEndpoints: []ec2types.Ec2InstanceConnectEndpoint{{
				AvailabilityZone: aws.String("az-1"), AvailabilityZoneId: aws.String("use1-az1"), DnsName: aws.String("localhost"),
				InstanceConnectEndpointArn: aws.String("arn:eice"), InstanceConnectEndpointId: aws.String("eice-1"),
				OwnerId: aws.String("123456789012"), State: ec2types.Ec2InstanceConnectEndpointStateCreateComplete,
				SubnetId: aws.String("subnet-1"), VpcId: aws.String("vpc-1"),
			}}}),
			`{"InstanceConnectEndpoints":[{"OwnerId":"123456789012","InstanceConnectEndpointId":"eice-1","InstanceConnectEndpointArn":"arn:eice","State":"create-complete","DnsName":"localhost","VpcId":"vpc-1","AvailabilityZone":"az-1","SubnetId":"subnet-1","AvailabilityZoneId":"use1-az1"}]}`},
		{"one call: model order", "ec2", "DescribeSecurityGroupsOutput", reflect.ValueOf(&ec2.DescribeSecurityGroupsOutput{
			SecurityGroups: []ec2types.SecurityGroup{group}, NextToken: aws.String("tok")}),
			`{"NextToken":"tok","SecurityGroups":[{"GroupId":"sg-1","VpcId":"vpc-1","OwnerId":"123456789012","GroupName":"web","Description":"d"}]}`},
		{"paged: results then NextToken", "ec2", "DescribeSecurityGroupsOutput", paged,
			`{"SecurityGroups":[{"GroupId":"sg-1","VpcId":"vpc-1","OwnerId":"123456789012","GroupName":"web","Description":"d"}],"NextToken":"tok"}`},
		{"unknown output shape: its members in SDK order", "ec2", "NoSuchOutput", reflect.ValueOf(&ec2.DescribeSecurityGroupsOutput{
			SecurityGroups: []ec2types.SecurityGroup{group}, NextToken: aws.String("tok")}),
			`{"NextToken":"tok","SecurityGroups":[{"GroupId":"sg-1","VpcId":"vpc-1","OwnerId":"123456789012","GroupName":"web","Description":"d"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printResult(&b, &globals{output: "json", color: "off"}, "", modelOutput{service: tc.service, shape: tc.shape, v: tc.out}); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := json.Compact(&got, b.Bytes()); err != nil {
				t.Fatalf("%v in\n%s", err, b.String())
			}
			if got.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got.String(), tc.want)
			}
		})
	}
}
