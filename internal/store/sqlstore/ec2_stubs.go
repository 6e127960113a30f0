package sqlstore

// Stubs for the EC2 repositories, replaced as they are implemented.

import (
	"context"
	"errors"
	"time"

	"github.com/postern/postern/internal/store"
)

var errEC2NotImplemented = errors.New("sqlstore: EC2 repositories not implemented yet")

func (r *repo) CreateVpc(ctx context.Context, v store.Vpc) error { return errEC2NotImplemented }
func (r *repo) GetVpc(ctx context.Context, vpcID string) (store.Vpc, error) {
	return store.Vpc{}, errEC2NotImplemented
}
func (r *repo) ListVpcs(ctx context.Context) ([]store.Vpc, error)      { return nil, errEC2NotImplemented }
func (r *repo) DeleteVpc(ctx context.Context, vpcID string) error      { return errEC2NotImplemented }
func (r *repo) CreateSubnet(ctx context.Context, s store.Subnet) error { return errEC2NotImplemented }
func (r *repo) GetSubnet(ctx context.Context, subnetID string) (store.Subnet, error) {
	return store.Subnet{}, errEC2NotImplemented
}
func (r *repo) ListSubnets(ctx context.Context, vpcID string) ([]store.Subnet, error) {
	return nil, errEC2NotImplemented
}
func (r *repo) DeleteSubnet(ctx context.Context, subnetID string) error { return errEC2NotImplemented }
func (r *repo) CreateSecurityGroup(ctx context.Context, g store.SecurityGroup) error {
	return errEC2NotImplemented
}
func (r *repo) GetSecurityGroup(ctx context.Context, groupID string) (store.SecurityGroup, error) {
	return store.SecurityGroup{}, errEC2NotImplemented
}
func (r *repo) GetSecurityGroupByName(ctx context.Context, vpcID, name string) (store.SecurityGroup, error) {
	return store.SecurityGroup{}, errEC2NotImplemented
}
func (r *repo) ListSecurityGroups(ctx context.Context, vpcID string) ([]store.SecurityGroup, error) {
	return nil, errEC2NotImplemented
}
func (r *repo) DeleteSecurityGroup(ctx context.Context, groupID string) error {
	return errEC2NotImplemented
}
func (r *repo) AddSecurityGroupRules(ctx context.Context, rules []store.SecurityGroupRule) error {
	return errEC2NotImplemented
}
func (r *repo) RemoveSecurityGroupRules(ctx context.Context, ruleIDs []string) error {
	return errEC2NotImplemented
}
func (r *repo) ListSecurityGroupRules(ctx context.Context, groupIDs []string) ([]store.SecurityGroupRule, error) {
	return nil, errEC2NotImplemented
}
func (r *repo) CreateInstance(ctx context.Context, i store.Instance) error {
	return errEC2NotImplemented
}
func (r *repo) GetInstance(ctx context.Context, instanceID string) (store.Instance, error) {
	return store.Instance{}, errEC2NotImplemented
}
func (r *repo) ListInstances(ctx context.Context) ([]store.Instance, error) {
	return nil, errEC2NotImplemented
}
func (r *repo) SetInstanceSecurityGroups(ctx context.Context, instanceID string, groupIDs []string) error {
	return errEC2NotImplemented
}
func (r *repo) DeleteInstance(ctx context.Context, instanceID string) error {
	return errEC2NotImplemented
}
func (r *repo) CreateEndpoint(ctx context.Context, e store.Endpoint) error {
	return errEC2NotImplemented
}
func (r *repo) GetEndpoint(ctx context.Context, endpointID string) (store.Endpoint, error) {
	return store.Endpoint{}, errEC2NotImplemented
}
func (r *repo) ListEndpoints(ctx context.Context) ([]store.Endpoint, error) {
	return nil, errEC2NotImplemented
}
func (r *repo) UpdateEndpoint(ctx context.Context, e store.Endpoint) error {
	return errEC2NotImplemented
}
func (r *repo) PurgeEndpoints(ctx context.Context, before time.Time) (int, error) {
	return 0, errEC2NotImplemented
}
func (r *repo) SetTags(ctx context.Context, resourceID string, tags []store.Tag) error {
	return errEC2NotImplemented
}
func (r *repo) DeleteTags(ctx context.Context, resourceID string, tags []store.Tag) error {
	return errEC2NotImplemented
}
func (r *repo) ListTags(ctx context.Context, resourceIDs []string) (map[string][]store.Tag, error) {
	return nil, errEC2NotImplemented
}
func (r *repo) PutClientToken(ctx context.Context, t store.ClientToken) error {
	return errEC2NotImplemented
}
func (r *repo) GetClientToken(ctx context.Context, action, token string) (store.ClientToken, error) {
	return store.ClientToken{}, errEC2NotImplemented
}
