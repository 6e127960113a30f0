package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/postern/postern/internal/store"
)

// The EC2 repositories. Their SQL is here rather than in queries.go because
// each statement is used once; it is written in the SQL SQLite and
// PostgreSQL share, with '?' placeholders passed through the dialect.

func (r *repo) q(query string) string { return r.s.d.rebind(query) }

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// placeholders returns "?, ?, …" for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ---- tags ----

// tagsOf loads the tags of the given resources (every resource when ids
// is empty), in insertion order.
func (r *repo) tagsOf(ctx context.Context, q querier, ids []string) (map[string][]store.Tag, error) {
	query := "SELECT resource_id, tag_key, tag_value FROM resource_tags"
	if len(ids) > 0 {
		query += " WHERE resource_id IN (" + placeholders(len(ids)) + ")"
	}
	rows, err := q.QueryContext(ctx, r.q(query+" ORDER BY resource_id, seq"), anySlice(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]store.Tag{}
	for rows.Next() {
		var id string
		var t store.Tag
		if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
			return nil, err
		}
		out[id] = append(out[id], t)
	}
	return out, rows.Err()
}

func (r *repo) setTags(ctx context.Context, q querier, id string, tags []store.Tag) error {
	for _, t := range tags {
		res, err := q.ExecContext(ctx, r.q("UPDATE resource_tags SET tag_value = ? WHERE resource_id = ? AND tag_key = ?"), t.Value, id, t.Key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			continue
		}
		if _, err := q.ExecContext(ctx, r.q(`INSERT INTO resource_tags (resource_id, tag_key, tag_value, seq)
			VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM resource_tags WHERE resource_id = ?))`), id, t.Key, t.Value, id); err != nil {
			return err
		}
	}
	return nil
}

func (r *repo) dropTags(ctx context.Context, q querier, id string) error {
	_, err := q.ExecContext(ctx, r.q("DELETE FROM resource_tags WHERE resource_id = ?"), id)
	return err
}

// SetTags implements store.ResourceTags.
func (r *repo) SetTags(ctx context.Context, resourceID string, tags []store.Tag) error {
	err := r.update(ctx, func(q querier) error { return r.setTags(ctx, q, resourceID, tags) })
	return r.fail(err, "set tags on %s", resourceID)
}

// DeleteTags implements store.ResourceTags.
func (r *repo) DeleteTags(ctx context.Context, resourceID string, tags []store.Tag) error {
	err := r.update(ctx, func(q querier) error {
		for _, t := range tags {
			query, args := "DELETE FROM resource_tags WHERE resource_id = ? AND tag_key = ?", []any{resourceID, t.Key}
			if t.Value != "" {
				query += " AND tag_value = ?"
				args = append(args, t.Value)
			}
			if _, err := q.ExecContext(ctx, r.q(query), args...); err != nil {
				return err
			}
		}
		return nil
	})
	return r.fail(err, "delete tags on %s", resourceID)
}

// ListTags implements store.ResourceTags.
func (r *repo) ListTags(ctx context.Context, resourceIDs []string) (map[string][]store.Tag, error) {
	var out map[string][]store.Tag
	err := r.view(ctx, func(q querier) error {
		var err error
		out, err = r.tagsOf(ctx, q, resourceIDs)
		return err
	})
	return out, r.fail(err, "list tags")
}

// ---- VPCs ----

const vpcCols = "vpc_id, cidr_block, ipv6_cidr_block, state, create_date"

func scanVpcs(rows *sql.Rows) ([]store.Vpc, error) {
	defer rows.Close()
	var out []store.Vpc
	for rows.Next() {
		var v store.Vpc
		var created int64
		if err := rows.Scan(&v.VpcID, &v.CidrBlock, &v.Ipv6CidrBlock, &v.State, &created); err != nil {
			return nil, err
		}
		v.CreateDate = fromMicros(created)
		out = append(out, v)
	}
	return out, rows.Err()
}

// CreateVpc implements store.Vpcs.
func (r *repo) CreateVpc(ctx context.Context, v store.Vpc) error {
	err := r.update(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO vpcs ("+vpcCols+") VALUES (?, ?, ?, ?, ?)"),
			v.VpcID, v.CidrBlock, v.Ipv6CidrBlock, v.State, toMicros(v.CreateDate)); err != nil {
			return err
		}
		return r.setTags(ctx, q, v.VpcID, v.Tags)
	})
	return r.fail(err, "create vpc %s", v.VpcID)
}

func (r *repo) listVpcs(ctx context.Context, where string, args ...any) ([]store.Vpc, error) {
	var out []store.Vpc
	err := r.view(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, r.q("SELECT "+vpcCols+" FROM vpcs"+where+" ORDER BY vpc_id"), args...)
		if err != nil {
			return err
		}
		if out, err = scanVpcs(rows); err != nil {
			return err
		}
		tags, err := r.tagsOf(ctx, q, idsIf(len(args) > 0, args))
		for i := range out {
			out[i].Tags = tags[out[i].VpcID]
		}
		return err
	})
	return out, err
}

// idsIf returns the string arguments as ids when restrict is true (a
// lookup by id), or nil for "every resource".
func idsIf(restrict bool, args []any) []string {
	if !restrict {
		return nil
	}
	ids := make([]string, 0, len(args))
	for _, a := range args {
		if s, ok := a.(string); ok {
			ids = append(ids, s)
		}
	}
	return ids
}

// GetVpc implements store.Vpcs.
func (r *repo) GetVpc(ctx context.Context, vpcID string) (store.Vpc, error) {
	vs, err := r.listVpcs(ctx, " WHERE vpc_id = ?", vpcID)
	if err == nil && len(vs) == 0 {
		err = notFound("vpc %s", vpcID)
	}
	if err != nil {
		return store.Vpc{}, r.fail(err, "get vpc %s", vpcID)
	}
	return vs[0], nil
}

// ListVpcs implements store.Vpcs.
func (r *repo) ListVpcs(ctx context.Context) ([]store.Vpc, error) {
	vs, err := r.listVpcs(ctx, "")
	return vs, r.fail(err, "list vpcs")
}

// DeleteVpc implements store.Vpcs.
func (r *repo) DeleteVpc(ctx context.Context, vpcID string) error {
	err := r.update(ctx, func(q querier) error {
		var n [4]int64
		if err := q.QueryRowContext(ctx, r.q(`SELECT
			(SELECT COUNT(*) FROM subnets WHERE vpc_id = ?),
			(SELECT COUNT(*) FROM security_groups WHERE vpc_id = ? AND is_default = 0),
			(SELECT COUNT(*) FROM instances WHERE vpc_id = ?),
			(SELECT COUNT(*) FROM endpoints WHERE vpc_id = ? AND deleted_at = 0)`), vpcID, vpcID, vpcID, vpcID).Scan(&n[0], &n[1], &n[2], &n[3]); err != nil {
			return err
		}
		if err := inUse(n[:], []string{"subnet(s)", "security group(s)", "instance(s)", "endpoint(s)"}); err != nil {
			return err
		}
		// Deleted endpoints still listed go with their VPC.
		if err := r.purgeEndpointsWhere(ctx, q, "vpc_id = ?", vpcID); err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, r.q("SELECT group_id FROM security_groups WHERE vpc_id = ?"), vpcID)
		if err != nil {
			return err
		}
		groups, err := scanStrings(rows)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if err := r.deleteGroupRows(ctx, q, g); err != nil {
				return err
			}
		}
		if err := r.dropTags(ctx, q, vpcID); err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM vpcs WHERE vpc_id = ?"), vpcID))
	})
	return r.failDelete(err, "delete vpc %s", vpcID)
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ---- subnets ----

const subnetCols = "subnet_id, vpc_id, cidr_block, ipv6_cidr_block, availability_zone, availability_zone_id, state, create_date"

// CreateSubnet implements store.Subnets.
func (r *repo) CreateSubnet(ctx context.Context, s store.Subnet) error {
	err := r.update(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO subnets ("+subnetCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
			s.SubnetID, s.VpcID, s.CidrBlock, s.Ipv6CidrBlock, s.AvailabilityZone, s.AvailabilityZoneID, s.State, toMicros(s.CreateDate)); err != nil {
			return err
		}
		return r.setTags(ctx, q, s.SubnetID, s.Tags)
	})
	return r.fail(err, "create subnet %s", s.SubnetID)
}

func (r *repo) listSubnets(ctx context.Context, where string, byID bool, args ...any) ([]store.Subnet, error) {
	var out []store.Subnet
	err := r.view(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, r.q("SELECT "+subnetCols+" FROM subnets"+where+" ORDER BY subnet_id"), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s store.Subnet
			var created int64
			if err := rows.Scan(&s.SubnetID, &s.VpcID, &s.CidrBlock, &s.Ipv6CidrBlock, &s.AvailabilityZone, &s.AvailabilityZoneID, &s.State, &created); err != nil {
				return err
			}
			s.CreateDate = fromMicros(created)
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		tags, err := r.tagsOf(ctx, q, idsIf(byID, args))
		for i := range out {
			out[i].Tags = tags[out[i].SubnetID]
		}
		return err
	})
	return out, err
}

// GetSubnet implements store.Subnets.
func (r *repo) GetSubnet(ctx context.Context, subnetID string) (store.Subnet, error) {
	ss, err := r.listSubnets(ctx, " WHERE subnet_id = ?", true, subnetID)
	if err == nil && len(ss) == 0 {
		err = notFound("subnet %s", subnetID)
	}
	if err != nil {
		return store.Subnet{}, r.fail(err, "get subnet %s", subnetID)
	}
	return ss[0], nil
}

// ListSubnets implements store.Subnets.
func (r *repo) ListSubnets(ctx context.Context, vpcID string) ([]store.Subnet, error) {
	var ss []store.Subnet
	var err error
	if vpcID == "" {
		ss, err = r.listSubnets(ctx, "", false)
	} else {
		ss, err = r.listSubnets(ctx, " WHERE vpc_id = ?", false, vpcID)
	}
	return ss, r.fail(err, "list subnets")
}

// DeleteSubnet implements store.Subnets.
func (r *repo) DeleteSubnet(ctx context.Context, subnetID string) error {
	err := r.update(ctx, func(q querier) error {
		var n [2]int64
		if err := q.QueryRowContext(ctx, r.q(`SELECT
			(SELECT COUNT(*) FROM instances WHERE subnet_id = ?),
			(SELECT COUNT(*) FROM endpoints WHERE subnet_id = ? AND deleted_at = 0)`), subnetID, subnetID).Scan(&n[0], &n[1]); err != nil {
			return err
		}
		if err := inUse(n[:], []string{"instance(s)", "endpoint(s)"}); err != nil {
			return err
		}
		if err := r.purgeEndpointsWhere(ctx, q, "subnet_id = ?", subnetID); err != nil {
			return err
		}
		if err := r.dropTags(ctx, q, subnetID); err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM subnets WHERE subnet_id = ?"), subnetID))
	})
	return r.failDelete(err, "delete subnet %s", subnetID)
}

// ---- security groups ----

const sgCols = "group_id, vpc_id, group_name, description, is_default, create_date"

// CreateSecurityGroup implements store.SecurityGroups.
func (r *repo) CreateSecurityGroup(ctx context.Context, g store.SecurityGroup) error {
	err := r.update(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO security_groups (group_id, vpc_id, group_name, name_key, description, is_default, create_date) VALUES (?, ?, ?, ?, ?, ?, ?)"),
			g.GroupID, g.VpcID, g.GroupName, nameKey(g.GroupName), g.Description, boolInt(g.IsDefault), toMicros(g.CreateDate)); err != nil {
			return err
		}
		return r.setTags(ctx, q, g.GroupID, g.Tags)
	})
	return r.fail(err, "create security group %s", g.GroupName)
}

func (r *repo) listGroupsWhere(ctx context.Context, where string, byID bool, args ...any) ([]store.SecurityGroup, error) {
	var out []store.SecurityGroup
	err := r.view(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, r.q("SELECT "+sgCols+" FROM security_groups"+where+" ORDER BY group_id"), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var g store.SecurityGroup
			var def, created int64
			if err := rows.Scan(&g.GroupID, &g.VpcID, &g.GroupName, &g.Description, &def, &created); err != nil {
				return err
			}
			g.IsDefault, g.CreateDate = def != 0, fromMicros(created)
			out = append(out, g)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var ids []string
		if byID {
			for _, g := range out {
				ids = append(ids, g.GroupID)
			}
			if len(ids) == 0 {
				return nil
			}
		}
		tags, err := r.tagsOf(ctx, q, ids)
		for i := range out {
			out[i].Tags = tags[out[i].GroupID]
		}
		return err
	})
	return out, err
}

// GetSecurityGroup implements store.SecurityGroups.
func (r *repo) GetSecurityGroup(ctx context.Context, groupID string) (store.SecurityGroup, error) {
	gs, err := r.listGroupsWhere(ctx, " WHERE group_id = ?", true, groupID)
	if err == nil && len(gs) == 0 {
		err = notFound("security group %s", groupID)
	}
	if err != nil {
		return store.SecurityGroup{}, r.fail(err, "get security group %s", groupID)
	}
	return gs[0], nil
}

// GetSecurityGroupByName implements store.SecurityGroups.
func (r *repo) GetSecurityGroupByName(ctx context.Context, vpcID, name string) (store.SecurityGroup, error) {
	gs, err := r.listGroupsWhere(ctx, " WHERE vpc_id = ? AND name_key = ?", true, vpcID, nameKey(name))
	if err == nil && len(gs) == 0 {
		err = notFound("security group %q in %s", name, vpcID)
	}
	if err != nil {
		return store.SecurityGroup{}, r.fail(err, "get security group %q", name)
	}
	return gs[0], nil
}

// ListSecurityGroups implements store.SecurityGroups.
func (r *repo) ListSecurityGroups(ctx context.Context, vpcID string) ([]store.SecurityGroup, error) {
	var gs []store.SecurityGroup
	var err error
	if vpcID == "" {
		gs, err = r.listGroupsWhere(ctx, "", false)
	} else {
		gs, err = r.listGroupsWhere(ctx, " WHERE vpc_id = ?", true, vpcID)
	}
	return gs, r.fail(err, "list security groups")
}

// deleteGroupRows removes a group with its rules and tags.
func (r *repo) deleteGroupRows(ctx context.Context, q querier, groupID string) error {
	if _, err := q.ExecContext(ctx, r.q("DELETE FROM security_group_rules WHERE group_id = ?"), groupID); err != nil {
		return err
	}
	if err := r.dropTags(ctx, q, groupID); err != nil {
		return err
	}
	return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM security_groups WHERE group_id = ?"), groupID))
}

// DeleteSecurityGroup implements store.SecurityGroups.
func (r *repo) DeleteSecurityGroup(ctx context.Context, groupID string) error {
	err := r.update(ctx, func(q querier) error {
		var n [3]int64
		if err := q.QueryRowContext(ctx, r.q(`SELECT
			(SELECT COUNT(*) FROM instance_security_groups WHERE group_id = ?),
			(SELECT COUNT(*) FROM endpoint_security_groups eg JOIN endpoints e ON e.endpoint_id = eg.endpoint_id WHERE eg.group_id = ? AND e.deleted_at = 0),
			(SELECT COUNT(*) FROM security_group_rules WHERE referenced_group_id = ? AND group_id <> ?)`), groupID, groupID, groupID, groupID).Scan(&n[0], &n[1], &n[2]); err != nil {
			return err
		}
		if err := inUse(n[:], []string{"instance(s)", "endpoint(s)", "rule(s) of other groups"}); err != nil {
			return err
		}
		// Deleted endpoints that still name the group lose it.
		if _, err := q.ExecContext(ctx, r.q("DELETE FROM endpoint_security_groups WHERE group_id = ?"), groupID); err != nil {
			return err
		}
		return r.deleteGroupRows(ctx, q, groupID)
	})
	return r.failDelete(err, "delete security group %s", groupID)
}

const ruleCols = "rule_id, group_id, is_egress, ip_protocol, from_port, to_port, cidr_ipv4, cidr_ipv6, referenced_group_id, description"

// AddSecurityGroupRules implements store.SecurityGroups.
func (r *repo) AddSecurityGroupRules(ctx context.Context, rules []store.SecurityGroupRule) error {
	err := r.update(ctx, func(q querier) error {
		for _, ru := range rules {
			if ru.ReferencedGroupID != "" {
				var n int64
				if err := q.QueryRowContext(ctx, r.q("SELECT COUNT(*) FROM security_groups WHERE group_id = ?"), ru.ReferencedGroupID).Scan(&n); err != nil {
					return err
				}
				if n == 0 {
					return notFound("security group %s", ru.ReferencedGroupID)
				}
			}
			if _, err := q.ExecContext(ctx, r.q("INSERT INTO security_group_rules ("+ruleCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
				ru.RuleID, ru.GroupID, boolInt(ru.IsEgress), ru.IpProtocol, ru.FromPort, ru.ToPort, ru.CidrIpv4, ru.CidrIpv6, ru.ReferencedGroupID, ru.Description); err != nil {
				return err
			}
		}
		return nil
	})
	return r.fail(err, "add security group rules")
}

// RemoveSecurityGroupRules implements store.SecurityGroups.
func (r *repo) RemoveSecurityGroupRules(ctx context.Context, ruleIDs []string) error {
	err := r.update(ctx, func(q querier) error {
		for _, id := range ruleIDs {
			if err := mustAffect(q.ExecContext(ctx, r.q("DELETE FROM security_group_rules WHERE rule_id = ?"), id)); err != nil {
				return fmt.Errorf("rule %s: %w", id, err)
			}
		}
		return nil
	})
	return r.fail(err, "remove security group rules")
}

// ListSecurityGroupRules implements store.SecurityGroups.
func (r *repo) ListSecurityGroupRules(ctx context.Context, groupIDs []string) ([]store.SecurityGroupRule, error) {
	query := "SELECT " + ruleCols + " FROM security_group_rules"
	if len(groupIDs) > 0 {
		query += " WHERE group_id IN (" + placeholders(len(groupIDs)) + ")"
	}
	var out []store.SecurityGroupRule
	err := r.view(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, r.q(query+" ORDER BY group_id, rule_id"), anySlice(groupIDs)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ru store.SecurityGroupRule
			var eg int64
			if err := rows.Scan(&ru.RuleID, &ru.GroupID, &eg, &ru.IpProtocol, &ru.FromPort, &ru.ToPort, &ru.CidrIpv4, &ru.CidrIpv6, &ru.ReferencedGroupID, &ru.Description); err != nil {
				return err
			}
			ru.IsEgress = eg != 0
			out = append(out, ru)
		}
		return rows.Err()
	})
	return out, r.fail(err, "list security group rules")
}

// ---- instances ----

const instanceCols = "instance_id, subnet_id, vpc_id, private_ip_address, ipv6_address, public_ip_address, platform, availability_zone, state, launch_time"

// CreateInstance implements store.Instances.
func (r *repo) CreateInstance(ctx context.Context, i store.Instance) error {
	err := r.update(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO instances ("+instanceCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			i.InstanceID, i.SubnetID, i.VpcID, i.PrivateIPAddress, i.Ipv6Address, i.PublicIPAddress, i.Platform, i.AvailabilityZone, i.State, toMicros(i.LaunchTime)); err != nil {
			return err
		}
		if err := r.insertOrdered(ctx, q, "instance_security_groups", "instance_id", "group_id", i.InstanceID, i.SecurityGroupIDs); err != nil {
			return err
		}
		return r.setTags(ctx, q, i.InstanceID, i.Tags)
	})
	return r.fail(err, "create instance %s", i.InstanceID)
}

// insertOrdered writes (owner, position, value) child rows. Table and
// column names are fixed identifiers from this file.
func (r *repo) insertOrdered(ctx context.Context, q querier, table, ownerCol, valueCol, owner string, values []string) error {
	for pos, v := range values {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO "+table+" ("+ownerCol+", position, "+valueCol+") VALUES (?, ?, ?)"), owner, pos, v); err != nil {
			return err
		}
	}
	return nil
}

// ordered loads (owner, value) child rows by position for the owners
// (every owner when ids is empty).
func (r *repo) ordered(ctx context.Context, q querier, table, ownerCol, valueCol string, ids []string) (map[string][]string, error) {
	query := "SELECT " + ownerCol + ", " + valueCol + " FROM " + table
	if len(ids) > 0 {
		query += " WHERE " + ownerCol + " IN (" + placeholders(len(ids)) + ")"
	}
	rows, err := q.QueryContext(ctx, r.q(query+" ORDER BY "+ownerCol+", position"), anySlice(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var o, v string
		if err := rows.Scan(&o, &v); err != nil {
			return nil, err
		}
		out[o] = append(out[o], v)
	}
	return out, rows.Err()
}

func (r *repo) listInstances(ctx context.Context, where string, args ...any) ([]store.Instance, error) {
	var out []store.Instance
	err := r.view(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, r.q("SELECT "+instanceCols+" FROM instances"+where+" ORDER BY instance_id"), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var i store.Instance
			var launched int64
			if err := rows.Scan(&i.InstanceID, &i.SubnetID, &i.VpcID, &i.PrivateIPAddress, &i.Ipv6Address, &i.PublicIPAddress, &i.Platform, &i.AvailabilityZone, &i.State, &launched); err != nil {
				return err
			}
			i.LaunchTime = fromMicros(launched)
			out = append(out, i)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		ids := idsIf(len(args) > 0, args)
		groups, err := r.ordered(ctx, q, "instance_security_groups", "instance_id", "group_id", ids)
		if err != nil {
			return err
		}
		tags, err := r.tagsOf(ctx, q, ids)
		for k := range out {
			out[k].SecurityGroupIDs = groups[out[k].InstanceID]
			out[k].Tags = tags[out[k].InstanceID]
		}
		return err
	})
	return out, err
}

// GetInstance implements store.Instances.
func (r *repo) GetInstance(ctx context.Context, instanceID string) (store.Instance, error) {
	is, err := r.listInstances(ctx, " WHERE instance_id = ?", instanceID)
	if err == nil && len(is) == 0 {
		err = notFound("instance %s", instanceID)
	}
	if err != nil {
		return store.Instance{}, r.fail(err, "get instance %s", instanceID)
	}
	return is[0], nil
}

// ListInstances implements store.Instances.
func (r *repo) ListInstances(ctx context.Context) ([]store.Instance, error) {
	is, err := r.listInstances(ctx, "")
	return is, r.fail(err, "list instances")
}

// SetInstanceSecurityGroups implements store.Instances.
func (r *repo) SetInstanceSecurityGroups(ctx context.Context, instanceID string, groupIDs []string) error {
	err := r.update(ctx, func(q querier) error {
		var n int64
		if err := q.QueryRowContext(ctx, r.q("SELECT COUNT(*) FROM instances WHERE instance_id = ?"), instanceID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("instance %s", instanceID)
		}
		if _, err := q.ExecContext(ctx, r.q("DELETE FROM instance_security_groups WHERE instance_id = ?"), instanceID); err != nil {
			return err
		}
		return r.insertOrdered(ctx, q, "instance_security_groups", "instance_id", "group_id", instanceID, groupIDs)
	})
	return r.fail(err, "set security groups of %s", instanceID)
}

// DeleteInstance implements store.Instances.
func (r *repo) DeleteInstance(ctx context.Context, instanceID string) error {
	err := r.update(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("DELETE FROM instance_security_groups WHERE instance_id = ?"), instanceID); err != nil {
			return err
		}
		if err := r.dropTags(ctx, q, instanceID); err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM instances WHERE instance_id = ?"), instanceID))
	})
	return r.failDelete(err, "delete instance %s", instanceID)
}

// ---- endpoints ----

const endpointCols = `endpoint_id, arn, owner_id, state, state_message, dns_name, fips_dns_name, subnet_id, vpc_id,
	availability_zone, availability_zone_id, preserve_client_ip, ip_address_type, client_token, created_at, deleted_at`

func deletedMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return toMicros(t)
}

// CreateEndpoint implements store.Endpoints.
func (r *repo) CreateEndpoint(ctx context.Context, e store.Endpoint) error {
	err := r.update(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO endpoints ("+endpointCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			e.EndpointID, e.ARN, e.OwnerID, e.State, e.StateMessage, e.DNSName, e.FipsDNSName, e.SubnetID, e.VpcID,
			e.AvailabilityZone, e.AvailabilityZoneID, boolInt(e.PreserveClientIP), e.IPAddressType, e.ClientToken, toMicros(e.CreatedAt), deletedMicros(e.DeletedAt)); err != nil {
			return err
		}
		if err := r.insertOrdered(ctx, q, "endpoint_security_groups", "endpoint_id", "group_id", e.EndpointID, e.SecurityGroupIDs); err != nil {
			return err
		}
		if err := r.insertOrdered(ctx, q, "endpoint_network_interfaces", "endpoint_id", "eni_id", e.EndpointID, e.NetworkInterfaceIDs); err != nil {
			return err
		}
		return r.setTags(ctx, q, e.EndpointID, e.Tags)
	})
	return r.fail(err, "create endpoint %s", e.EndpointID)
}

// ListEndpointsPage implements store.Endpoints.
func (r *repo) ListEndpointsPage(ctx context.Context, eq store.EndpointQuery) ([]store.Endpoint, error) {
	var conds []string
	var args []any
	if eq.AfterID != "" {
		conds, args = append(conds, "endpoint_id > ?"), append(args, eq.AfterID)
	}
	for _, f := range []struct {
		col    string
		values []string
	}{{"endpoint_id", eq.IDs}, {"vpc_id", eq.VpcIDs}, {"subnet_id", eq.SubnetIDs}, {"state", eq.States}} {
		if len(f.values) > 0 {
			conds = append(conds, f.col+" IN ("+placeholders(len(f.values))+")")
			args = append(args, anySlice(f.values)...)
		}
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	limit := ""
	if eq.Limit > 0 {
		limit = fmt.Sprintf(" LIMIT %d", eq.Limit)
	}
	es, err := r.listEndpointsSel(ctx, where, limit, true, args...)
	return es, r.fail(err, "list endpoints page")
}

func (r *repo) listEndpoints(ctx context.Context, where string, args ...any) ([]store.Endpoint, error) {
	return r.listEndpointsSel(ctx, where, "", len(args) > 0, args...)
}

// listEndpointsSel reads endpoints and their child rows; when byID is set
// the child rows are read for the selected endpoints only.
func (r *repo) listEndpointsSel(ctx context.Context, where, limit string, byID bool, args ...any) ([]store.Endpoint, error) {
	var out []store.Endpoint
	err := r.view(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, r.q("SELECT "+endpointCols+" FROM endpoints"+where+" ORDER BY endpoint_id"+limit), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e store.Endpoint
			var pci, created, deleted int64
			if err := rows.Scan(&e.EndpointID, &e.ARN, &e.OwnerID, &e.State, &e.StateMessage, &e.DNSName, &e.FipsDNSName, &e.SubnetID, &e.VpcID,
				&e.AvailabilityZone, &e.AvailabilityZoneID, &pci, &e.IPAddressType, &e.ClientToken, &created, &deleted); err != nil {
				return err
			}
			e.PreserveClientIP, e.CreatedAt = pci != 0, fromMicros(created)
			if deleted != 0 {
				e.DeletedAt = fromMicros(deleted)
			}
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var ids []string
		if byID {
			if len(out) == 0 {
				return nil
			}
			for _, e := range out {
				ids = append(ids, e.EndpointID)
			}
		}
		groups, err := r.ordered(ctx, q, "endpoint_security_groups", "endpoint_id", "group_id", ids)
		if err != nil {
			return err
		}
		enis, err := r.ordered(ctx, q, "endpoint_network_interfaces", "endpoint_id", "eni_id", ids)
		if err != nil {
			return err
		}
		tags, err := r.tagsOf(ctx, q, ids)
		for k := range out {
			id := out[k].EndpointID
			out[k].SecurityGroupIDs, out[k].NetworkInterfaceIDs, out[k].Tags = groups[id], enis[id], tags[id]
		}
		return err
	})
	return out, err
}

// GetEndpoint implements store.Endpoints.
func (r *repo) GetEndpoint(ctx context.Context, endpointID string) (store.Endpoint, error) {
	es, err := r.listEndpoints(ctx, " WHERE endpoint_id = ?", endpointID)
	if err == nil && len(es) == 0 {
		err = notFound("endpoint %s", endpointID)
	}
	if err != nil {
		return store.Endpoint{}, r.fail(err, "get endpoint %s", endpointID)
	}
	return es[0], nil
}

// ListEndpoints implements store.Endpoints.
func (r *repo) ListEndpoints(ctx context.Context) ([]store.Endpoint, error) {
	es, err := r.listEndpoints(ctx, "")
	return es, r.fail(err, "list endpoints")
}

// UpdateEndpoint implements store.Endpoints.
func (r *repo) UpdateEndpoint(ctx context.Context, e store.Endpoint) error {
	err := r.update(ctx, func(q querier) error {
		if err := mustAffect(q.ExecContext(ctx, r.q(`UPDATE endpoints SET state = ?, state_message = ?, preserve_client_ip = ?,
			ip_address_type = ?, deleted_at = ? WHERE endpoint_id = ?`),
			e.State, e.StateMessage, boolInt(e.PreserveClientIP), e.IPAddressType, deletedMicros(e.DeletedAt), e.EndpointID)); err != nil {
			return err
		}
		for _, child := range []struct {
			table, col string
			values     []string
		}{{"endpoint_security_groups", "group_id", e.SecurityGroupIDs}, {"endpoint_network_interfaces", "eni_id", e.NetworkInterfaceIDs}} {
			if _, err := q.ExecContext(ctx, r.q("DELETE FROM "+child.table+" WHERE endpoint_id = ?"), e.EndpointID); err != nil {
				return err
			}
			if err := r.insertOrdered(ctx, q, child.table, "endpoint_id", child.col, e.EndpointID, child.values); err != nil {
				return err
			}
		}
		return nil
	})
	return r.fail(err, "update endpoint %s", e.EndpointID)
}

// purgeEndpointsWhere removes deleted endpoints matching cond, with their
// children and tags.
func (r *repo) purgeEndpointsWhere(ctx context.Context, q querier, cond string, args ...any) (err error) {
	_, err = r.purge(ctx, q, "deleted_at <> 0 AND "+cond, args...)
	return err
}

func (r *repo) purge(ctx context.Context, q querier, cond string, args ...any) (int, error) {
	rows, err := q.QueryContext(ctx, r.q("SELECT endpoint_id FROM endpoints WHERE "+cond), args...)
	if err != nil {
		return 0, err
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		for _, table := range []string{"endpoint_security_groups", "endpoint_network_interfaces"} {
			if _, err := q.ExecContext(ctx, r.q("DELETE FROM "+table+" WHERE endpoint_id = ?"), id); err != nil {
				return 0, err
			}
		}
		if err := r.dropTags(ctx, q, id); err != nil {
			return 0, err
		}
		if _, err := q.ExecContext(ctx, r.q("DELETE FROM endpoints WHERE endpoint_id = ?"), id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// PurgeEndpoints implements store.Endpoints.
func (r *repo) PurgeEndpoints(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := r.update(ctx, func(q querier) error {
		var err error
		n, err = r.purge(ctx, q, "deleted_at <> 0 AND deleted_at < ?", toMicros(before))
		return err
	})
	return n, r.fail(err, "purge endpoints")
}

// ---- client tokens ----

// PutClientToken implements store.ClientTokens.
func (r *repo) PutClientToken(ctx context.Context, t store.ClientToken) error {
	err := r.update(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.q("INSERT INTO client_tokens (action, token, params_hash, resource_id, create_date) VALUES (?, ?, ?, ?, ?)"),
			t.Action, t.Token, t.ParamsHash, t.ResourceID, toMicros(t.CreateDate))
		return err
	})
	return r.fail(err, "put client token for %s", t.Action)
}

// GetClientToken implements store.ClientTokens.
func (r *repo) GetClientToken(ctx context.Context, action, token string) (store.ClientToken, error) {
	t := store.ClientToken{Action: action, Token: token}
	var created int64
	err := r.read().QueryRowContext(ctx, r.q("SELECT params_hash, resource_id, create_date FROM client_tokens WHERE action = ? AND token = ?"), action, token).
		Scan(&t.ParamsHash, &t.ResourceID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		err = notFound("client token for %s", action)
	}
	if err != nil {
		return store.ClientToken{}, r.fail(err, "get client token")
	}
	t.CreateDate = fromMicros(created)
	return t, nil
}
