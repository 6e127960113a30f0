package cli

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	smithytime "github.com/aws/smithy-go/time"
)

// The EC2 Query protocol's XML of a reservation, as RunInstances and
// Postern's RegisterInstance answer it. Members are pointers so that, as
// with the SDK's own deserializer, an element that is present but empty
// gives an empty value and an absent one gives none; the AWS CLI's output
// shows the difference.

type reservationXML struct {
	ReservationID *string      `xml:"reservationId"`
	OwnerID       *string      `xml:"ownerId"`
	RequesterID   *string      `xml:"requesterId"`
	GroupSet      *groupSetXML `xml:"groupSet"`
	InstancesSet  *struct {
		Items []instanceXML `xml:"item"`
	} `xml:"instancesSet"`
}

type groupSetXML struct {
	Items []struct {
		GroupID   *string `xml:"groupId"`
		GroupName *string `xml:"groupName"`
	} `xml:"item"`
}

type instanceXML struct {
	InstanceID    *string `xml:"instanceId"`
	InstanceState *struct {
		Code *string `xml:"code"`
		Name *string `xml:"name"`
	} `xml:"instanceState"`
	PrivateDNSName *string `xml:"privateDnsName"`
	DNSName        *string `xml:"dnsName"`
	LaunchTime     *string `xml:"launchTime"`
	Placement      *struct {
		AvailabilityZone   *string `xml:"availabilityZone"`
		AvailabilityZoneID *string `xml:"availabilityZoneId"`
		GroupName          *string `xml:"groupName"`
		Tenancy            *string `xml:"tenancy"`
	} `xml:"placement"`
	Platform         *string      `xml:"platform"`
	SubnetID         *string      `xml:"subnetId"`
	VpcID            *string      `xml:"vpcId"`
	PrivateIPAddress *string      `xml:"privateIpAddress"`
	IPAddress        *string      `xml:"ipAddress"`
	GroupSet         *groupSetXML `xml:"groupSet"`
	Ipv6Address      *string      `xml:"ipv6Address"`
	TagSet           *struct {
		Items []struct {
			Key   *string `xml:"key"`
			Value *string `xml:"value"`
		} `xml:"item"`
	} `xml:"tagSet"`
	PlatformDetails *string `xml:"platformDetails"`
}

// decodeReservation decodes a RunInstances-shaped answer into the SDK's
// RunInstancesOutput.
func decodeReservation(body []byte) (*ec2.RunInstancesOutput, error) {
	var r reservationXML
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode reservation: %w", err)
	}
	out := &ec2.RunInstancesOutput{ReservationId: r.ReservationID, OwnerId: r.OwnerID, RequesterId: r.RequesterID, Groups: groups(r.GroupSet)}
	if r.InstancesSet != nil {
		out.Instances = make([]ec2types.Instance, 0, len(r.InstancesSet.Items))
		for _, x := range r.InstancesSet.Items {
			in, err := x.instance()
			if err != nil {
				return nil, err
			}
			out.Instances = append(out.Instances, in)
		}
	}
	return out, nil
}

func groups(g *groupSetXML) []ec2types.GroupIdentifier {
	if g == nil {
		return nil
	}
	out := make([]ec2types.GroupIdentifier, 0, len(g.Items))
	for _, i := range g.Items {
		out = append(out, ec2types.GroupIdentifier{GroupId: i.GroupID, GroupName: i.GroupName})
	}
	return out
}

func (x instanceXML) instance() (ec2types.Instance, error) {
	in := ec2types.Instance{
		InstanceId: x.InstanceID, PrivateDnsName: x.PrivateDNSName, PublicDnsName: x.DNSName,
		Platform: ec2types.PlatformValues(deref(x.Platform)), SubnetId: x.SubnetID, VpcId: x.VpcID,
		PrivateIpAddress: x.PrivateIPAddress, PublicIpAddress: x.IPAddress, SecurityGroups: groups(x.GroupSet),
		Ipv6Address: x.Ipv6Address, PlatformDetails: x.PlatformDetails,
	}
	if s := x.InstanceState; s != nil {
		in.State = &ec2types.InstanceState{Name: ec2types.InstanceStateName(deref(s.Name))}
		if s.Code != nil {
			code, err := strconv.ParseInt(*s.Code, 10, 32)
			if err != nil {
				return in, fmt.Errorf("decode reservation: instance state code %q: %w", *s.Code, err)
			}
			in.State.Code = ptr(int32(code))
		}
	}
	if x.LaunchTime != nil {
		t, err := smithytime.ParseDateTime(*x.LaunchTime)
		if err != nil {
			return in, fmt.Errorf("decode reservation: launch time %q: %w", *x.LaunchTime, err)
		}
		in.LaunchTime = ptr(t)
	}
	if p := x.Placement; p != nil {
		in.Placement = &ec2types.Placement{AvailabilityZone: p.AvailabilityZone, AvailabilityZoneId: p.AvailabilityZoneID,
			GroupName: p.GroupName, Tenancy: ec2types.Tenancy(deref(p.Tenancy))}
	}
	if x.TagSet != nil {
		in.Tags = make([]ec2types.Tag, 0, len(x.TagSet.Items))
		for _, t := range x.TagSet.Items {
			in.Tags = append(in.Tags, ec2types.Tag{Key: t.Key, Value: t.Value})
		}
	}
	return in, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ptr[T any](v T) *T { return &v }
