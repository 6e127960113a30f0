package ec2api

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/postern/postern/internal/store"
)

// memEC2 is a stand-in for the EC2 repositories while the SQLite ones are
// not implemented: the harness uses it only when the real store answers
// "not implemented", and says so in the test log. It follows the
// contract documented in package store (sentinel errors, ordering, tags
// filled in by Get/List, rollback of InTx on error).
type memEC2 struct {
	store.Store // IAM, settings and the transaction machinery: the real SQLite store

	txMu sync.Mutex // serializes InTx, like the real store's single writer
	mu   sync.Mutex // guards d
	d    *memData
}

type memData struct {
	vpcs      map[string]store.Vpc
	subnets   map[string]store.Subnet
	groups    map[string]store.SecurityGroup
	rules     map[string]store.SecurityGroupRule
	instances map[string]store.Instance
	endpoints map[string]store.Endpoint
	tags      map[string][]store.Tag
	tokens    map[string]store.ClientToken
}

func newMemData() *memData {
	return &memData{
		vpcs: map[string]store.Vpc{}, subnets: map[string]store.Subnet{}, groups: map[string]store.SecurityGroup{},
		rules: map[string]store.SecurityGroupRule{}, instances: map[string]store.Instance{},
		endpoints: map[string]store.Endpoint{}, tags: map[string][]store.Tag{}, tokens: map[string]store.ClientToken{},
	}
}

func (d *memData) clone() *memData {
	c := newMemData()
	for k, v := range d.vpcs {
		c.vpcs[k] = v
	}
	for k, v := range d.subnets {
		c.subnets[k] = v
	}
	for k, v := range d.groups {
		c.groups[k] = v
	}
	for k, v := range d.rules {
		c.rules[k] = v
	}
	for k, v := range d.instances {
		v.SecurityGroupIDs = slices.Clone(v.SecurityGroupIDs)
		c.instances[k] = v
	}
	for k, v := range d.endpoints {
		v.SecurityGroupIDs = slices.Clone(v.SecurityGroupIDs)
		v.NetworkInterfaceIDs = slices.Clone(v.NetworkInterfaceIDs)
		c.endpoints[k] = v
	}
	for k, v := range d.tags {
		c.tags[k] = slices.Clone(v)
	}
	for k, v := range d.tokens {
		c.tokens[k] = v
	}
	return c
}

func newMemEC2(st store.Store) *memEC2 { return &memEC2{Store: st, d: newMemData()} }

// InTx runs fn in a transaction of the real store; the EC2 part is
// snapshotted and restored when fn fails.
func (m *memEC2) InTx(ctx context.Context, fn func(tx store.Repo) error) error {
	m.txMu.Lock()
	defer m.txMu.Unlock()
	m.mu.Lock()
	snap := m.d.clone()
	m.mu.Unlock()
	err := m.Store.InTx(ctx, func(tx store.Repo) error {
		return fn(&memTx{Repo: tx, m: m})
	})
	if err != nil {
		m.mu.Lock()
		m.d = snap
		m.mu.Unlock()
	}
	return err
}

// memTx routes EC2 calls to the memory and the rest to the SQL transaction.
type memTx struct {
	store.Repo
	m *memEC2
}

func (m *memEC2) with(fn func(d *memData) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fn(m.d)
}

func notFound(what, id string) error {
	return fmt.Errorf("mem: %s %q: %w", what, id, store.ErrNotFound)
}

func (d *memData) tagsOf(id string) []store.Tag {
	t := slices.Clone(d.tags[id])
	sort.Slice(t, func(i, j int) bool { return t[i].Key < t[j].Key })
	return t
}

// endpointsUsing reports whether an endpoint depends on a resource. Like
// the strictest reading of the store contract, deleted endpoints that are
// still listed count too; the service purges them first.
func (d *memData) endpointsUsing(pred func(store.Endpoint) bool) bool {
	for _, e := range d.endpoints {
		if pred(e) {
			return true
		}
	}
	return false
}

// --- Vpcs ---

func (m *memEC2) CreateVpc(ctx context.Context, v store.Vpc) error {
	return m.with(func(d *memData) error {
		if _, ok := d.vpcs[v.VpcID]; ok {
			return store.ErrConflict
		}
		v.Tags = nil
		d.vpcs[v.VpcID] = v
		return nil
	})
}
func (m *memEC2) GetVpc(ctx context.Context, id string) (v store.Vpc, err error) {
	err = m.with(func(d *memData) error {
		var ok bool
		if v, ok = d.vpcs[id]; !ok {
			return notFound("vpc", id)
		}
		v.Tags = d.tagsOf(id)
		return nil
	})
	return v, err
}
func (m *memEC2) ListVpcs(ctx context.Context) (out []store.Vpc, err error) {
	err = m.with(func(d *memData) error {
		for id, v := range d.vpcs {
			v.Tags = d.tagsOf(id)
			out = append(out, v)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].VpcID < out[j].VpcID })
		return nil
	})
	return out, err
}
func (m *memEC2) DeleteVpc(ctx context.Context, id string) error {
	return m.with(func(d *memData) error {
		if _, ok := d.vpcs[id]; !ok {
			return notFound("vpc", id)
		}
		for _, s := range d.subnets {
			if s.VpcID == id {
				return store.ErrInUse
			}
		}
		for _, g := range d.groups {
			if g.VpcID == id && !g.IsDefault {
				return store.ErrInUse
			}
		}
		for _, i := range d.instances {
			if i.VpcID == id {
				return store.ErrInUse
			}
		}
		if d.endpointsUsing(func(e store.Endpoint) bool { return e.VpcID == id }) {
			return store.ErrInUse
		}
		for gid, g := range d.groups {
			if g.VpcID == id {
				delete(d.groups, gid)
				for rid, r := range d.rules {
					if r.GroupID == gid {
						delete(d.rules, rid)
					}
				}
			}
		}
		delete(d.vpcs, id)
		return nil
	})
}

// --- Subnets ---

func (m *memEC2) CreateSubnet(ctx context.Context, s store.Subnet) error {
	return m.with(func(d *memData) error {
		if _, ok := d.vpcs[s.VpcID]; !ok {
			return notFound("vpc", s.VpcID)
		}
		if _, ok := d.subnets[s.SubnetID]; ok {
			return store.ErrConflict
		}
		s.Tags = nil
		d.subnets[s.SubnetID] = s
		return nil
	})
}
func (m *memEC2) GetSubnet(ctx context.Context, id string) (s store.Subnet, err error) {
	err = m.with(func(d *memData) error {
		var ok bool
		if s, ok = d.subnets[id]; !ok {
			return notFound("subnet", id)
		}
		s.Tags = d.tagsOf(id)
		return nil
	})
	return s, err
}
func (m *memEC2) ListSubnets(ctx context.Context, vpcID string) (out []store.Subnet, err error) {
	err = m.with(func(d *memData) error {
		for id, s := range d.subnets {
			if vpcID == "" || s.VpcID == vpcID {
				s.Tags = d.tagsOf(id)
				out = append(out, s)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].SubnetID < out[j].SubnetID })
		return nil
	})
	return out, err
}
func (m *memEC2) DeleteSubnet(ctx context.Context, id string) error {
	return m.with(func(d *memData) error {
		if _, ok := d.subnets[id]; !ok {
			return notFound("subnet", id)
		}
		for _, i := range d.instances {
			if i.SubnetID == id {
				return store.ErrInUse
			}
		}
		if d.endpointsUsing(func(e store.Endpoint) bool { return e.SubnetID == id }) {
			return store.ErrInUse
		}
		delete(d.subnets, id)
		return nil
	})
}

// --- SecurityGroups ---

func (m *memEC2) CreateSecurityGroup(ctx context.Context, g store.SecurityGroup) error {
	return m.with(func(d *memData) error {
		if _, ok := d.vpcs[g.VpcID]; !ok {
			return notFound("vpc", g.VpcID)
		}
		for _, o := range d.groups {
			if o.VpcID == g.VpcID && o.GroupName == g.GroupName || o.GroupID == g.GroupID {
				return store.ErrConflict
			}
		}
		g.Tags = nil
		d.groups[g.GroupID] = g
		return nil
	})
}
func (m *memEC2) GetSecurityGroup(ctx context.Context, id string) (g store.SecurityGroup, err error) {
	err = m.with(func(d *memData) error {
		var ok bool
		if g, ok = d.groups[id]; !ok {
			return notFound("security group", id)
		}
		g.Tags = d.tagsOf(id)
		return nil
	})
	return g, err
}
func (m *memEC2) GetSecurityGroupByName(ctx context.Context, vpcID, name string) (g store.SecurityGroup, err error) {
	err = m.with(func(d *memData) error {
		for id, o := range d.groups {
			if o.VpcID == vpcID && o.GroupName == name {
				g = o
				g.Tags = d.tagsOf(id)
				return nil
			}
		}
		return notFound("security group", name)
	})
	return g, err
}
func (m *memEC2) ListSecurityGroups(ctx context.Context, vpcID string) (out []store.SecurityGroup, err error) {
	err = m.with(func(d *memData) error {
		for id, g := range d.groups {
			if vpcID == "" || g.VpcID == vpcID {
				g.Tags = d.tagsOf(id)
				out = append(out, g)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].GroupID < out[j].GroupID })
		return nil
	})
	return out, err
}
func (m *memEC2) DeleteSecurityGroup(ctx context.Context, id string) error {
	return m.with(func(d *memData) error {
		if _, ok := d.groups[id]; !ok {
			return notFound("security group", id)
		}
		for _, i := range d.instances {
			if slices.Contains(i.SecurityGroupIDs, id) {
				return store.ErrInUse
			}
		}
		if d.endpointsUsing(func(e store.Endpoint) bool { return slices.Contains(e.SecurityGroupIDs, id) }) {
			return store.ErrInUse
		}
		for _, r := range d.rules {
			if r.ReferencedGroupID == id && r.GroupID != id {
				return store.ErrInUse
			}
		}
		for rid, r := range d.rules {
			if r.GroupID == id {
				delete(d.rules, rid)
			}
		}
		delete(d.groups, id)
		return nil
	})
}
func (m *memEC2) AddSecurityGroupRules(ctx context.Context, rules []store.SecurityGroupRule) error {
	return m.with(func(d *memData) error {
		for _, r := range rules {
			if _, ok := d.groups[r.GroupID]; !ok {
				return notFound("security group", r.GroupID)
			}
			if r.ReferencedGroupID != "" {
				if _, ok := d.groups[r.ReferencedGroupID]; !ok {
					return notFound("security group", r.ReferencedGroupID)
				}
			}
			for _, o := range d.rules {
				if o.GroupID == r.GroupID && keyOf(o) == keyOf(r) {
					return store.ErrConflict
				}
			}
			d.rules[r.RuleID] = r
		}
		return nil
	})
}
func (m *memEC2) RemoveSecurityGroupRules(ctx context.Context, ids []string) error {
	return m.with(func(d *memData) error {
		for _, id := range ids {
			if _, ok := d.rules[id]; !ok {
				return notFound("rule", id)
			}
			delete(d.rules, id)
		}
		return nil
	})
}
func (m *memEC2) ListSecurityGroupRules(ctx context.Context, groupIDs []string) (out []store.SecurityGroupRule, err error) {
	err = m.with(func(d *memData) error {
		for _, r := range d.rules {
			if len(groupIDs) == 0 || slices.Contains(groupIDs, r.GroupID) {
				out = append(out, r)
			}
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].GroupID != out[j].GroupID {
				return out[i].GroupID < out[j].GroupID
			}
			return out[i].RuleID < out[j].RuleID
		})
		return nil
	})
	return out, err
}

// --- Instances ---

func (m *memEC2) CreateInstance(ctx context.Context, i store.Instance) error {
	return m.with(func(d *memData) error {
		if _, ok := d.subnets[i.SubnetID]; !ok {
			return notFound("subnet", i.SubnetID)
		}
		for _, o := range d.instances {
			if o.VpcID == i.VpcID && (o.PrivateIPAddress != "" && o.PrivateIPAddress == i.PrivateIPAddress || o.Ipv6Address != "" && o.Ipv6Address == i.Ipv6Address) {
				return store.ErrConflict
			}
		}
		i.Tags = nil
		i.SecurityGroupIDs = slices.Clone(i.SecurityGroupIDs)
		d.instances[i.InstanceID] = i
		return nil
	})
}
func (m *memEC2) GetInstance(ctx context.Context, id string) (i store.Instance, err error) {
	err = m.with(func(d *memData) error {
		var ok bool
		if i, ok = d.instances[id]; !ok {
			return notFound("instance", id)
		}
		i.Tags = d.tagsOf(id)
		i.SecurityGroupIDs = slices.Clone(i.SecurityGroupIDs)
		return nil
	})
	return i, err
}
func (m *memEC2) ListInstances(ctx context.Context) (out []store.Instance, err error) {
	err = m.with(func(d *memData) error {
		for id, i := range d.instances {
			i.Tags = d.tagsOf(id)
			i.SecurityGroupIDs = slices.Clone(i.SecurityGroupIDs)
			out = append(out, i)
		}
		sort.Slice(out, func(a, b int) bool { return out[a].InstanceID < out[b].InstanceID })
		return nil
	})
	return out, err
}
func (m *memEC2) SetInstanceSecurityGroups(ctx context.Context, id string, groupIDs []string) error {
	return m.with(func(d *memData) error {
		i, ok := d.instances[id]
		if !ok {
			return notFound("instance", id)
		}
		i.SecurityGroupIDs = slices.Clone(groupIDs)
		d.instances[id] = i
		return nil
	})
}
func (m *memEC2) DeleteInstance(ctx context.Context, id string) error {
	return m.with(func(d *memData) error {
		if _, ok := d.instances[id]; !ok {
			return notFound("instance", id)
		}
		delete(d.instances, id)
		return nil
	})
}

// --- Endpoints ---

func (m *memEC2) CreateEndpoint(ctx context.Context, e store.Endpoint) error {
	return m.with(func(d *memData) error {
		if _, ok := d.subnets[e.SubnetID]; !ok {
			return notFound("subnet", e.SubnetID)
		}
		if _, ok := d.endpoints[e.EndpointID]; ok {
			return store.ErrConflict
		}
		e.Tags = nil
		e.SecurityGroupIDs = slices.Clone(e.SecurityGroupIDs)
		e.NetworkInterfaceIDs = slices.Clone(e.NetworkInterfaceIDs)
		d.endpoints[e.EndpointID] = e
		return nil
	})
}
func (m *memEC2) GetEndpoint(ctx context.Context, id string) (e store.Endpoint, err error) {
	err = m.with(func(d *memData) error {
		var ok bool
		if e, ok = d.endpoints[id]; !ok {
			return notFound("endpoint", id)
		}
		e.Tags = d.tagsOf(id)
		e.SecurityGroupIDs = slices.Clone(e.SecurityGroupIDs)
		e.NetworkInterfaceIDs = slices.Clone(e.NetworkInterfaceIDs)
		return nil
	})
	return e, err
}
func (m *memEC2) ListEndpoints(ctx context.Context) (out []store.Endpoint, err error) {
	err = m.with(func(d *memData) error {
		for id, e := range d.endpoints {
			e.Tags = d.tagsOf(id)
			e.SecurityGroupIDs = slices.Clone(e.SecurityGroupIDs)
			e.NetworkInterfaceIDs = slices.Clone(e.NetworkInterfaceIDs)
			out = append(out, e)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].EndpointID < out[j].EndpointID })
		return nil
	})
	return out, err
}
func (m *memEC2) UpdateEndpoint(ctx context.Context, e store.Endpoint) error {
	return m.with(func(d *memData) error {
		cur, ok := d.endpoints[e.EndpointID]
		if !ok {
			return notFound("endpoint", e.EndpointID)
		}
		cur.State, cur.StateMessage = e.State, e.StateMessage
		cur.SecurityGroupIDs = slices.Clone(e.SecurityGroupIDs)
		cur.PreserveClientIP, cur.IPAddressType = e.PreserveClientIP, e.IPAddressType
		cur.NetworkInterfaceIDs = slices.Clone(e.NetworkInterfaceIDs)
		cur.DeletedAt = e.DeletedAt
		d.endpoints[e.EndpointID] = cur
		return nil
	})
}
func (m *memEC2) PurgeEndpoints(ctx context.Context, before time.Time) (n int, err error) {
	err = m.with(func(d *memData) error {
		for id, e := range d.endpoints {
			if !e.DeletedAt.IsZero() && e.DeletedAt.Before(before) {
				delete(d.endpoints, id)
				n++
			}
		}
		return nil
	})
	return n, err
}

// --- ResourceTags ---

func (m *memEC2) SetTags(ctx context.Context, id string, tags []store.Tag) error {
	return m.with(func(d *memData) error {
		cur := d.tags[id]
		for _, t := range tags {
			replaced := false
			for i := range cur {
				if cur[i].Key == t.Key {
					cur[i].Value = t.Value
					replaced = true
				}
			}
			if !replaced {
				cur = append(cur, t)
			}
		}
		d.tags[id] = cur
		return nil
	})
}
func (m *memEC2) DeleteTags(ctx context.Context, id string, tags []store.Tag) error {
	return m.with(func(d *memData) error {
		cur := d.tags[id]
		var keep []store.Tag
		for _, c := range cur {
			drop := false
			for _, t := range tags {
				if t.Key == c.Key && (t.Value == "" || t.Value == c.Value) {
					drop = true
				}
			}
			if !drop {
				keep = append(keep, c)
			}
		}
		if len(keep) == 0 {
			delete(d.tags, id)
		} else {
			d.tags[id] = keep
		}
		return nil
	})
}
func (m *memEC2) ListTags(ctx context.Context, ids []string) (out map[string][]store.Tag, err error) {
	err = m.with(func(d *memData) error {
		out = map[string][]store.Tag{}
		for id := range d.tags {
			if len(ids) == 0 || slices.Contains(ids, id) {
				out[id] = d.tagsOf(id)
			}
		}
		return nil
	})
	return out, err
}

// --- ClientTokens ---

func (m *memEC2) PutClientToken(ctx context.Context, t store.ClientToken) error {
	return m.with(func(d *memData) error {
		k := t.Action + "\x00" + t.Token
		if _, ok := d.tokens[k]; ok {
			return store.ErrConflict
		}
		d.tokens[k] = t
		return nil
	})
}
func (m *memEC2) GetClientToken(ctx context.Context, action, token string) (t store.ClientToken, err error) {
	err = m.with(func(d *memData) error {
		var ok bool
		if t, ok = d.tokens[action+"\x00"+token]; !ok {
			return notFound("client token", token)
		}
		return nil
	})
	return t, err
}

// memTx forwards the EC2 methods to the memory.
func (t *memTx) CreateVpc(ctx context.Context, v store.Vpc) error { return t.m.CreateVpc(ctx, v) }
func (t *memTx) GetVpc(ctx context.Context, id string) (store.Vpc, error) {
	return t.m.GetVpc(ctx, id)
}
func (t *memTx) ListVpcs(ctx context.Context) ([]store.Vpc, error) { return t.m.ListVpcs(ctx) }
func (t *memTx) DeleteVpc(ctx context.Context, id string) error    { return t.m.DeleteVpc(ctx, id) }
func (t *memTx) CreateSubnet(ctx context.Context, s store.Subnet) error {
	return t.m.CreateSubnet(ctx, s)
}
func (t *memTx) GetSubnet(ctx context.Context, id string) (store.Subnet, error) {
	return t.m.GetSubnet(ctx, id)
}
func (t *memTx) ListSubnets(ctx context.Context, vpcID string) ([]store.Subnet, error) {
	return t.m.ListSubnets(ctx, vpcID)
}
func (t *memTx) DeleteSubnet(ctx context.Context, id string) error { return t.m.DeleteSubnet(ctx, id) }
func (t *memTx) CreateSecurityGroup(ctx context.Context, g store.SecurityGroup) error {
	return t.m.CreateSecurityGroup(ctx, g)
}
func (t *memTx) GetSecurityGroup(ctx context.Context, id string) (store.SecurityGroup, error) {
	return t.m.GetSecurityGroup(ctx, id)
}
func (t *memTx) GetSecurityGroupByName(ctx context.Context, vpcID, name string) (store.SecurityGroup, error) {
	return t.m.GetSecurityGroupByName(ctx, vpcID, name)
}
func (t *memTx) ListSecurityGroups(ctx context.Context, vpcID string) ([]store.SecurityGroup, error) {
	return t.m.ListSecurityGroups(ctx, vpcID)
}
func (t *memTx) DeleteSecurityGroup(ctx context.Context, id string) error {
	return t.m.DeleteSecurityGroup(ctx, id)
}
func (t *memTx) AddSecurityGroupRules(ctx context.Context, r []store.SecurityGroupRule) error {
	return t.m.AddSecurityGroupRules(ctx, r)
}
func (t *memTx) RemoveSecurityGroupRules(ctx context.Context, ids []string) error {
	return t.m.RemoveSecurityGroupRules(ctx, ids)
}
func (t *memTx) ListSecurityGroupRules(ctx context.Context, ids []string) ([]store.SecurityGroupRule, error) {
	return t.m.ListSecurityGroupRules(ctx, ids)
}
func (t *memTx) CreateInstance(ctx context.Context, i store.Instance) error {
	return t.m.CreateInstance(ctx, i)
}
func (t *memTx) GetInstance(ctx context.Context, id string) (store.Instance, error) {
	return t.m.GetInstance(ctx, id)
}
func (t *memTx) ListInstances(ctx context.Context) ([]store.Instance, error) {
	return t.m.ListInstances(ctx)
}
func (t *memTx) SetInstanceSecurityGroups(ctx context.Context, id string, g []string) error {
	return t.m.SetInstanceSecurityGroups(ctx, id, g)
}
func (t *memTx) DeleteInstance(ctx context.Context, id string) error {
	return t.m.DeleteInstance(ctx, id)
}
func (t *memTx) CreateEndpoint(ctx context.Context, e store.Endpoint) error {
	return t.m.CreateEndpoint(ctx, e)
}
func (t *memTx) GetEndpoint(ctx context.Context, id string) (store.Endpoint, error) {
	return t.m.GetEndpoint(ctx, id)
}
func (t *memTx) ListEndpoints(ctx context.Context) ([]store.Endpoint, error) {
	return t.m.ListEndpoints(ctx)
}
func (t *memTx) UpdateEndpoint(ctx context.Context, e store.Endpoint) error {
	return t.m.UpdateEndpoint(ctx, e)
}
func (t *memTx) PurgeEndpoints(ctx context.Context, before time.Time) (int, error) {
	return t.m.PurgeEndpoints(ctx, before)
}
func (t *memTx) SetTags(ctx context.Context, id string, tags []store.Tag) error {
	return t.m.SetTags(ctx, id, tags)
}
func (t *memTx) DeleteTags(ctx context.Context, id string, tags []store.Tag) error {
	return t.m.DeleteTags(ctx, id, tags)
}
func (t *memTx) ListTags(ctx context.Context, ids []string) (map[string][]store.Tag, error) {
	return t.m.ListTags(ctx, ids)
}
func (t *memTx) PutClientToken(ctx context.Context, ct store.ClientToken) error {
	return t.m.PutClientToken(ctx, ct)
}
func (t *memTx) GetClientToken(ctx context.Context, action, token string) (store.ClientToken, error) {
	return t.m.GetClientToken(ctx, action, token)
}
