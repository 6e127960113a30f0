package endpoints

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
)

// LocalNetwork is the network of the one-machine run: a VPC holding
// 127.0.0.0/8 (the machine's loopback), a subnet, this machine registered
// as an instance at 127.0.0.1, and an endpoint served by the server's
// embedded agent.
type LocalNetwork struct {
	VpcID, SubnetID, GroupID, InstanceID, EndpointID, AgentID string
	Vpc                                                       store.Vpc
	// Created is true when this call made the network.
	Created bool
}

// Settings keys of the local network.
const (
	settingLocalEndpoint = "local_endpoint"
	settingLocalAgent    = "local_agent"
	settingLocalInstance = "local_instance"
	// LocalCIDR is the local network's VPC and subnet.
	LocalCIDR = "127.0.0.0/8"
	// LocalAddress is where the local instance is.
	LocalAddress = "127.0.0.1"
)

// stateAvailable is the state of VPCs and subnets.
const stateAvailable = "available"

// LocalPlace says where the local network is made: the installation's
// account and region (in ARNs), the endpoint's dnsName and the
// availability zone (name and id) of its subnet.
type LocalPlace struct {
	AccountID, Region, DNSName           string
	AvailabilityZone, AvailabilityZoneID string
}

// EnsureLocalNetwork makes the local network on first call and returns it
// afterwards. When the operator deleted its endpoint, EndpointID is "".
func (h *Endpoints) EnsureLocalNetwork(ctx context.Context, at LocalPlace) (LocalNetwork, error) {
	var ln LocalNetwork
	err := h.st.InTx(ctx, func(tx store.Repo) error {
		ln = LocalNetwork{} // InTx may run this again after a serialization failure
		ep, err := tx.GetSetting(ctx, settingLocalEndpoint)
		if err == nil {
			ln.EndpointID = ep
			ln.AgentID, _ = tx.GetSetting(ctx, settingLocalAgent)
			ln.InstanceID, _ = tx.GetSetting(ctx, settingLocalInstance)
			e, err := tx.GetEndpoint(ctx, ep)
			if err != nil || Deleted(e.State) {
				ln.EndpointID = "" // the operator deleted it: leave it so
				return nil
			}
			ln.VpcID, ln.SubnetID = e.VpcID, e.SubnetID
			ln.Vpc, err = tx.GetVpc(ctx, e.VpcID)
			return err
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := h.now().UTC().Truncate(time.Millisecond)
		ln.Created = true
		vpc := store.Vpc{VpcID: h.ids(awsid.PrefixVpc), CidrBlock: LocalCIDR, State: stateAvailable, CreateDate: now}
		if err := tx.CreateVpc(ctx, vpc); err != nil {
			return err
		}
		if err := store.CreateDefaultGroup(ctx, tx, vpc, h.ids, now); err != nil {
			return err
		}
		g, err := tx.GetSecurityGroupByName(ctx, vpc.VpcID, store.DefaultGroupName)
		if err != nil {
			return err
		}
		sn := store.Subnet{SubnetID: h.ids(awsid.PrefixSubnet), VpcID: vpc.VpcID, CidrBlock: LocalCIDR, AvailabilityZone: at.AvailabilityZone,
			AvailabilityZoneID: at.AvailabilityZoneID, State: stateAvailable, CreateDate: now}
		if err := tx.CreateSubnet(ctx, sn); err != nil {
			return err
		}
		inst := store.Instance{InstanceID: h.ids(awsid.PrefixInstance), SubnetID: sn.SubnetID, VpcID: vpc.VpcID, PrivateIPAddress: LocalAddress,
			AvailabilityZone: sn.AvailabilityZone, State: "running", SecurityGroupIDs: []string{g.GroupID}, LaunchTime: now}
		if err := tx.CreateInstance(ctx, inst); err != nil {
			return err
		}
		id := h.ids(awsid.PrefixEndpoint)
		e := store.Endpoint{EndpointID: id, ARN: awsid.EC2ARN(at.Region, at.AccountID, "instance-connect-endpoint", id), OwnerID: at.AccountID,
			State: InitialState(), DNSName: at.DNSName, FipsDNSName: at.DNSName, SubnetID: sn.SubnetID, VpcID: vpc.VpcID,
			AvailabilityZone: sn.AvailabilityZone, AvailabilityZoneID: sn.AvailabilityZoneID, IPAddressType: "ipv4",
			SecurityGroupIDs: []string{g.GroupID}, NetworkInterfaceIDs: []string{}, CreatedAt: now}
		if err := tx.CreateEndpoint(ctx, e); err != nil {
			return err
		}
		agentID := h.ids(awsid.PrefixNetworkInterface)
		if err := tx.CreateAgent(ctx, store.Agent{AgentID: agentID, EndpointID: id, Name: "embedded",
			KeyFingerprint: "embedded:" + id, CreatedAt: now, CreatedBy: "postern server"}); err != nil {
			return err
		}
		if err := h.AgentJoinedIn(ctx, tx, id, agentID); err != nil {
			return err
		}
		for k, v := range map[string]string{settingLocalEndpoint: id, settingLocalAgent: agentID, settingLocalInstance: inst.InstanceID} {
			if err := tx.PutSetting(ctx, k, v); err != nil {
				return err
			}
		}
		for rid, name := range map[string]string{vpc.VpcID: "postern-local", sn.SubnetID: "postern-local", inst.InstanceID: "this machine", id: "postern-local"} {
			if err := tx.SetTags(ctx, rid, []store.Tag{{Key: "Name", Value: name}}); err != nil {
				return err
			}
		}
		ln = LocalNetwork{VpcID: vpc.VpcID, SubnetID: sn.SubnetID, GroupID: g.GroupID, InstanceID: inst.InstanceID,
			EndpointID: id, AgentID: agentID, Vpc: vpc, Created: true}
		return nil
	})
	if err != nil {
		return LocalNetwork{}, fmt.Errorf("endpoints: local network: %w", err)
	}
	return ln, nil
}
