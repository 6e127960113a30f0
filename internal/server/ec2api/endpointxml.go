package ec2api

import "github.com/postern/postern/internal/wire/awsproto"

// The answer of DescribeInstanceConnectEndpoints (the EC2 call clients make
// most: every open-tunnel and ssh through an endpoint id asks it) writes
// its own XML (awsproto.XMLChildren): the bytes encoding/xml writes for
// these types, without its reflection. TestEndpointXMLMatchesEncodingXML
// sets every field and compares the two, so a field added to these types
// without a line here fails it.

// AppendXMLChildren appends the answer's elements.
func (r describeEndpointsResult) AppendXMLChildren(b []byte) []byte {
	b = append(b, "<instanceConnectEndpointSet>"...)
	for i := range r.InstanceConnectEndpointSet.Items {
		b = append(b, "<item>"...)
		b = r.InstanceConnectEndpointSet.Items[i].appendXML(b)
		b = append(b, "</item>"...)
	}
	b = append(b, "</instanceConnectEndpointSet>"...)
	if r.NextToken != "" { // omitempty
		b = awsproto.AppendXMLElement(b, "nextToken", r.NextToken)
	}
	return b
}

// appendXML appends the endpoint's elements, in its fields' order.
func (e *endpointXML) appendXML(b []byte) []byte {
	b = awsproto.AppendXMLElement(b, "ownerId", e.OwnerID)
	b = awsproto.AppendXMLElement(b, "instanceConnectEndpointId", e.InstanceConnectEndpointID)
	b = awsproto.AppendXMLElement(b, "instanceConnectEndpointArn", e.InstanceConnectEndpointArn)
	b = awsproto.AppendXMLElement(b, "state", e.State)
	b = awsproto.AppendXMLElement(b, "stateMessage", e.StateMessage)
	b = awsproto.AppendXMLElement(b, "dnsName", e.DNSName)
	b = awsproto.AppendXMLElement(b, "fipsDnsName", e.FipsDNSName)
	b = e.NetworkInterfaceIDSet.appendXML(b, "networkInterfaceIdSet")
	b = awsproto.AppendXMLElement(b, "vpcId", e.VpcID)
	b = awsproto.AppendXMLElement(b, "availabilityZone", e.AvailabilityZone)
	b = awsproto.AppendXMLElement(b, "createdAt", e.CreatedAt)
	b = awsproto.AppendXMLElement(b, "subnetId", e.SubnetID)
	b = awsproto.AppendXMLBool(b, "preserveClientIp", e.PreserveClientIP)
	b = e.SecurityGroupIDSet.appendXML(b, "securityGroupIdSet")
	b = e.TagSet.appendXML(b, "tagSet")
	b = awsproto.AppendXMLElement(b, "ipAddressType", e.IPAddressType)
	return awsproto.AppendXMLElement(b, "availabilityZoneId", e.AvailabilityZoneID)
}

// appendXML appends <name><item>…</item>…</name>.
func (s *stringSetXML) appendXML(b []byte, name string) []byte {
	b = append(append(append(b, '<'), name...), '>')
	for _, v := range s.Items {
		b = awsproto.AppendXMLElement(b, "item", v)
	}
	return append(append(append(b, "</"...), name...), '>')
}

// appendXML appends <name><item><key>…</key><value>…</value></item>…</name>.
func (s *tagSetXML) appendXML(b []byte, name string) []byte {
	b = append(append(append(b, '<'), name...), '>')
	for _, t := range s.Items {
		b = append(b, "<item>"...)
		b = awsproto.AppendXMLElement(b, "key", t.Key)
		b = awsproto.AppendXMLElement(b, "value", t.Value)
		b = append(b, "</item>"...)
	}
	return append(append(append(b, "</"...), name...), '>')
}
