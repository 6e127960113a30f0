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

// The EC2 repositories (store.EC2): VPCs, subnets, security groups and
// their rules, registered instances, Instance Connect Endpoints, resource
// tags and client tokens. Schema: migrations 0002 and 0003.
//
// The statements are here rather than in queries.go because each is used
// once. They are written, like queries.go, in the SQL SQLite and
// PostgreSQL share, with '?' placeholders that r.q passes through the
// dialect; the few built at run time (IN lists) splice in only fixed
// identifiers and placeholders.
//
// Reads fill every record's children (tags, security groups, network
// interfaces) with one statement per child table, whatever the number of
// records: the children are selected through a subquery that picks the
// same parent rows (a parents value), so a listing never issues one query
// per record and never reads the tags of other resources.
//
// Writes that take more than one statement go through r.write: a
// transaction of their own, or inside InTx a SAVEPOINT, so that a call
// that fails leaves nothing behind even when the caller goes on with its
// transaction (and, on PostgreSQL, does not abort that transaction).
//
// Dependents that block a delete (store.ErrInUse) are counted explicitly
// first, so the error says what is in the way; the foreign keys of 0002
// are the backstop. Endpoints marked deleted (DeletedAt set) never block a
// delete: deleting their subnet, VPC or security group purges them or
// drops the group from them.

// q rewrites a statement for the dialect.
func (r *repo) q(query string) string { return r.s.d.rebind(query) }

// writeQuiet is write for records no reader caches: a commit of its own
// does not count as a change (see Store.writeTxCounted).
func (r *repo) writeQuiet(ctx context.Context, fn func(q querier) error) error {
	if r.tx == nil {
		if r.s.bound(ctx) != nil {
			return r.s.writeTxCounted(ctx, false, func(tx *cachedTx) error { return fn(tx) })
		}
		// Outside any transaction: a group commit (groupcommit.go).
		return r.s.groupWrite(ctx, fn)
	}
	return r.savepoint(ctx, func(store.Repo) error { return fn(r.tx) })
}

// write runs fn atomically: in a transaction of its own outside InTx, in a
// SAVEPOINT of the current transaction inside.
func (r *repo) write(ctx context.Context, fn func(q querier) error) error {
	if r.tx == nil {
		return r.s.writeTx(ctx, func(tx *cachedTx) error { return fn(tx) })
	}
	r.tx.changed = true
	return r.savepoint(ctx, func(store.Repo) error { return fn(r.tx) })
}

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

// parents selects the parent records whose children a read loads: ids is
// a SELECT of their ids, args its arguments.
type parents struct {
	ids  string
	args []any
}

// scanStrings reads a one-column result.
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

// counts runs a SELECT of n counts (one row of n integers).
func counts(ctx context.Context, q querier, query string, n int, args ...any) ([]int64, error) {
	out := make([]int64, n)
	dest := make([]any, n)
	for i := range out {
		dest[i] = &out[i]
	}
	return out, q.QueryRowContext(ctx, query, args...).Scan(dest...)
}

// ---- resource tags ----

// tagOrder is the order tags are read in: insertion order per resource,
// which the primary key (resource_id, seq) gives without a sort.
const tagOrder = " ORDER BY resource_id, seq"

// tagsOf loads the tags of the parents, in insertion order.
func (r *repo) tagsOf(ctx context.Context, q querier, p parents) (map[string][]store.Tag, error) {
	return r.queryTags(ctx, q, "SELECT resource_id, tag_key, tag_value FROM resource_tags WHERE resource_id IN ("+
		p.ids+")"+tagOrder, p.args...)
}

func (r *repo) queryTags(ctx context.Context, q querier, query string, args ...any) (map[string][]store.Tag, error) {
	rows, err := q.QueryContext(ctx, r.q(query), args...)
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

// setTags overwrites the values of existing keys in place and appends new
// keys after the resource's last tag.
func (r *repo) setTags(ctx context.Context, q querier, id string, tags []store.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	upsert := r.q("INSERT INTO resource_tags (resource_id, seq, tag_key, tag_value) VALUES" +
		" (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM resource_tags WHERE resource_id = ?), ?, ?) " +
		r.s.d.onConflictUpdate([]string{"resource_id", "tag_key"}, []string{"tag_value"}))
	for _, t := range tags {
		if _, err := q.ExecContext(ctx, upsert, id, id, t.Key, t.Value); err != nil {
			return fmt.Errorf("tag %q: %w", t.Key, err)
		}
	}
	return nil
}

// dropTags removes every tag of a resource.
func (r *repo) dropTags(ctx context.Context, q querier, id string) error {
	_, err := q.ExecContext(ctx, r.q("DELETE FROM resource_tags WHERE resource_id = ?"), id)
	return err
}

// SetTags implements store.ResourceTags. Tags may be set on any id; the
// store does not check that the resource exists.
func (r *repo) SetTags(ctx context.Context, resourceID string, tags []store.Tag) error {
	err := r.write(ctx, func(q querier) error { return r.setTags(ctx, q, resourceID, tags) })
	return r.fail(err, "set tags on %s", resourceID)
}

// DeleteTags implements store.ResourceTags. Keys that are not there are
// ignored.
func (r *repo) DeleteTags(ctx context.Context, resourceID string, tags []store.Tag) error {
	err := r.write(ctx, func(q querier) error {
		byKey := r.q("DELETE FROM resource_tags WHERE resource_id = ? AND tag_key = ?")
		byValue := r.q("DELETE FROM resource_tags WHERE resource_id = ? AND tag_key = ? AND tag_value = ?")
		for _, t := range tags {
			var err error
			if t.Value == "" {
				_, err = q.ExecContext(ctx, byKey, resourceID, t.Key)
			} else {
				_, err = q.ExecContext(ctx, byValue, resourceID, t.Key, t.Value)
			}
			if err != nil {
				return fmt.Errorf("tag %q: %w", t.Key, err)
			}
		}
		return nil
	})
	return r.fail(err, "delete tags on %s", resourceID)
}

// ListTags implements store.ResourceTags. Resources without tags are not
// in the map.
func (r *repo) ListTags(ctx context.Context, resourceIDs []string) (map[string][]store.Tag, error) {
	query := "SELECT resource_id, tag_key, tag_value FROM resource_tags"
	if len(resourceIDs) > 0 {
		query += " WHERE resource_id IN (" + placeholders(len(resourceIDs)) + ")"
	}
	q := r.read()
	if len(resourceIDs) > 0 {
		q = r.readAdHoc()
	}
	out, err := r.queryTags(ctx, q, query+tagOrder, anySlice(resourceIDs)...)
	if err != nil {
		return nil, r.fail(err, "list tags")
	}
	return out, nil
}

// ---- VPCs ----

const vpcCols = "vpc_id, cidr_block, ipv6_cidr_block, state, create_date"

// CreateVpc implements store.Vpcs.
func (r *repo) CreateVpc(ctx context.Context, v store.Vpc) error {
	err := r.write(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO vpcs ("+vpcCols+") VALUES (?, ?, ?, ?, ?)"),
			v.VpcID, v.CidrBlock, v.Ipv6CidrBlock, v.State, toMicros(v.CreateDate)); err != nil {
			return err
		}
		return r.setTags(ctx, q, v.VpcID, v.Tags)
	})
	return r.fail(err, "create vpc %s", v.VpcID)
}

// selectVpcs reads the VPCs that where (" WHERE …" or "") selects, with
// their tags, ordered by id.
func (r *repo) selectVpcs(ctx context.Context, where string, args ...any) ([]store.Vpc, error) {
	var out []store.Vpc
	err := r.view(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, r.q("SELECT "+vpcCols+" FROM vpcs"+where+" ORDER BY vpc_id"), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v store.Vpc
			var created int64
			if err := rows.Scan(&v.VpcID, &v.CidrBlock, &v.Ipv6CidrBlock, &v.State, &created); err != nil {
				return err
			}
			v.CreateDate = fromMicros(created)
			out = append(out, v)
		}
		if err := rows.Err(); err != nil || len(out) == 0 {
			return err
		}
		tags, err := r.tagsOf(ctx, q, parents{"SELECT vpc_id FROM vpcs" + where, args})
		for i := range out {
			out[i].Tags = tags[out[i].VpcID]
		}
		return err
	})
	return out, err
}

// GetVpc implements store.Vpcs.
func (r *repo) GetVpc(ctx context.Context, vpcID string) (store.Vpc, error) {
	vs, err := r.selectVpcs(ctx, " WHERE vpc_id = ?", vpcID)
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
	vs, err := r.selectVpcs(ctx, "")
	return vs, r.fail(err, "list vpcs")
}

// DeleteVpc implements store.Vpcs. Besides the dependents store.Vpcs
// names, the VPC's default group must not be in use outside the VPC
// (an instance or live endpoint naming it, another group's rule
// referencing it). The default group goes with its rules and tags, the
// VPC's tags too, and so do endpoints in the VPC marked deleted.
func (r *repo) DeleteVpc(ctx context.Context, vpcID string) error {
	err := r.write(ctx, func(q querier) error {
		n, err := counts(ctx, q, r.q(`SELECT
			(SELECT count(*) FROM subnets WHERE vpc_id = ?),
			(SELECT count(*) FROM security_groups WHERE vpc_id = ? AND is_default = 0),
			(SELECT count(*) FROM instances WHERE vpc_id = ?),
			(SELECT count(*) FROM endpoints WHERE vpc_id = ? AND deleted_at = 0)`), 4, vpcID, vpcID, vpcID, vpcID)
		if err != nil {
			return err
		}
		if err := inUse(n, []string{"subnet(s)", "security group(s)", "instance(s)", "endpoint(s)"}); err != nil {
			return err
		}
		if _, err := r.purgeEndpoints(ctx, q, "vpc_id = ?", vpcID); err != nil {
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
			if err := r.deleteGroup(ctx, q, g); err != nil {
				return fmt.Errorf("default security group %s: %w", g, err)
			}
		}
		if err := r.dropTags(ctx, q, vpcID); err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM vpcs WHERE vpc_id = ?"), vpcID))
	})
	return r.failDelete(err, "delete vpc %s", vpcID)
}

// SetVpcIpv6CidrBlock implements store.Vpcs.
func (r *repo) SetVpcIpv6CidrBlock(ctx context.Context, vpcID, cidr string) error {
	err := r.write(ctx, func(q querier) error {
		return mustAffect(q.ExecContext(ctx, r.q("UPDATE vpcs SET ipv6_cidr_block = ? WHERE vpc_id = ?"), cidr, vpcID))
	})
	return r.fail(err, "set the IPv6 block of vpc %s", vpcID)
}

// ---- subnets ----

const subnetCols = "subnet_id, vpc_id, cidr_block, ipv6_cidr_block, availability_zone, availability_zone_id, state, create_date"

// CreateSubnet implements store.Subnets.
func (r *repo) CreateSubnet(ctx context.Context, s store.Subnet) error {
	err := r.write(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO subnets ("+subnetCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
			s.SubnetID, s.VpcID, s.CidrBlock, s.Ipv6CidrBlock, s.AvailabilityZone, s.AvailabilityZoneID, s.State,
			toMicros(s.CreateDate)); err != nil {
			return err
		}
		return r.setTags(ctx, q, s.SubnetID, s.Tags)
	})
	return r.fail(err, "create subnet %s", s.SubnetID)
}

func (r *repo) selectSubnets(ctx context.Context, where string, args ...any) ([]store.Subnet, error) {
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
			if err := rows.Scan(&s.SubnetID, &s.VpcID, &s.CidrBlock, &s.Ipv6CidrBlock, &s.AvailabilityZone,
				&s.AvailabilityZoneID, &s.State, &created); err != nil {
				return err
			}
			s.CreateDate = fromMicros(created)
			out = append(out, s)
		}
		if err := rows.Err(); err != nil || len(out) == 0 {
			return err
		}
		tags, err := r.tagsOf(ctx, q, parents{"SELECT subnet_id FROM subnets" + where, args})
		for i := range out {
			out[i].Tags = tags[out[i].SubnetID]
		}
		return err
	})
	return out, err
}

// GetSubnet implements store.Subnets.
func (r *repo) GetSubnet(ctx context.Context, subnetID string) (store.Subnet, error) {
	ss, err := r.selectSubnets(ctx, " WHERE subnet_id = ?", subnetID)
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
		ss, err = r.selectSubnets(ctx, "")
	} else {
		ss, err = r.selectSubnets(ctx, " WHERE vpc_id = ?", vpcID)
	}
	return ss, r.fail(err, "list subnets")
}

// DeleteSubnet implements store.Subnets. The subnet's tags go with it, and
// so do endpoints in it marked deleted.
func (r *repo) DeleteSubnet(ctx context.Context, subnetID string) error {
	err := r.write(ctx, func(q querier) error {
		n, err := counts(ctx, q, r.q(`SELECT
			(SELECT count(*) FROM instances WHERE subnet_id = ?),
			(SELECT count(*) FROM endpoints WHERE subnet_id = ? AND deleted_at = 0)`), 2, subnetID, subnetID)
		if err != nil {
			return err
		}
		if err := inUse(n, []string{"instance(s)", "endpoint(s)"}); err != nil {
			return err
		}
		if _, err := r.purgeEndpoints(ctx, q, "subnet_id = ?", subnetID); err != nil {
			return err
		}
		if err := r.dropTags(ctx, q, subnetID); err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM subnets WHERE subnet_id = ?"), subnetID))
	})
	return r.failDelete(err, "delete subnet %s", subnetID)
}

// SetSubnetIpv6CidrBlock implements store.Subnets.
func (r *repo) SetSubnetIpv6CidrBlock(ctx context.Context, subnetID, cidr string) error {
	err := r.write(ctx, func(q querier) error {
		return mustAffect(q.ExecContext(ctx, r.q("UPDATE subnets SET ipv6_cidr_block = ? WHERE subnet_id = ?"), cidr, subnetID))
	})
	return r.fail(err, "set the IPv6 block of subnet %s", subnetID)
}

// ---- security groups ----

const sgCols = "group_id, vpc_id, group_name, description, is_default, create_date"

// CreateSecurityGroup implements store.SecurityGroups. Group names are
// unique per VPC case-insensitively (name_key) and kept as given.
func (r *repo) CreateSecurityGroup(ctx context.Context, g store.SecurityGroup) error {
	err := r.write(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO security_groups (group_id, vpc_id, group_name, name_key,"+
			" description, is_default, create_date) VALUES (?, ?, ?, ?, ?, ?, ?)"),
			g.GroupID, g.VpcID, g.GroupName, nameKey(g.GroupName), g.Description, boolInt(g.IsDefault),
			toMicros(g.CreateDate)); err != nil {
			return err
		}
		return r.setTags(ctx, q, g.GroupID, g.Tags)
	})
	return r.fail(err, "create security group %s (%q)", g.GroupID, g.GroupName)
}

func (r *repo) selectGroups(ctx context.Context, where string, args ...any) ([]store.SecurityGroup, error) {
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
		if err := rows.Err(); err != nil || len(out) == 0 {
			return err
		}
		tags, err := r.tagsOf(ctx, q, parents{"SELECT group_id FROM security_groups" + where, args})
		for i := range out {
			out[i].Tags = tags[out[i].GroupID]
		}
		return err
	})
	return out, err
}

// GetSecurityGroup implements store.SecurityGroups.
func (r *repo) GetSecurityGroup(ctx context.Context, groupID string) (store.SecurityGroup, error) {
	gs, err := r.selectGroups(ctx, " WHERE group_id = ?", groupID)
	if err == nil && len(gs) == 0 {
		err = notFound("security group %s", groupID)
	}
	if err != nil {
		return store.SecurityGroup{}, r.fail(err, "get security group %s", groupID)
	}
	return gs[0], nil
}

// GetSecurityGroupByName implements store.SecurityGroups. The name is
// compared case-insensitively.
func (r *repo) GetSecurityGroupByName(ctx context.Context, vpcID, name string) (store.SecurityGroup, error) {
	gs, err := r.selectGroups(ctx, " WHERE vpc_id = ? AND name_key = ?", vpcID, nameKey(name))
	if err == nil && len(gs) == 0 {
		err = notFound("security group %q in %s", name, vpcID)
	}
	if err != nil {
		return store.SecurityGroup{}, r.fail(err, "get security group %q in %s", name, vpcID)
	}
	return gs[0], nil
}

// ListSecurityGroups implements store.SecurityGroups.
func (r *repo) ListSecurityGroups(ctx context.Context, vpcID string) ([]store.SecurityGroup, error) {
	var gs []store.SecurityGroup
	var err error
	if vpcID == "" {
		gs, err = r.selectGroups(ctx, "")
	} else {
		gs, err = r.selectGroups(ctx, " WHERE vpc_id = ?", vpcID)
	}
	return gs, r.fail(err, "list security groups")
}

// deleteGroup deletes a security group with its rules and tags, or
// returns store.ErrInUse while an instance or a live endpoint uses it or
// another group's rule references it. Endpoints marked deleted that still
// name the group lose it.
func (r *repo) deleteGroup(ctx context.Context, q querier, groupID string) error {
	n, err := counts(ctx, q, r.q(`SELECT
		(SELECT count(*) FROM instance_security_groups WHERE group_id = ?),
		(SELECT count(*) FROM endpoint_security_groups eg JOIN endpoints e ON e.endpoint_id = eg.endpoint_id
			WHERE eg.group_id = ? AND e.deleted_at = 0),
		(SELECT count(*) FROM security_group_rules WHERE referenced_group_id = ? AND group_id <> ?)`),
		3, groupID, groupID, groupID, groupID)
	if err != nil {
		return err
	}
	if err := inUse(n, []string{"instance(s)", "endpoint(s)", "rule(s) of other groups"}); err != nil {
		return err
	}
	for _, stmt := range []string{
		"DELETE FROM endpoint_security_groups WHERE group_id = ?",
		"DELETE FROM security_group_rules WHERE group_id = ?",
		"DELETE FROM resource_tags WHERE resource_id = ?",
	} {
		if _, err := q.ExecContext(ctx, r.q(stmt), groupID); err != nil {
			return err
		}
	}
	return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM security_groups WHERE group_id = ?"), groupID))
}

// DeleteSecurityGroup implements store.SecurityGroups. It does not refuse
// a VPC's default group; that is the caller's rule.
func (r *repo) DeleteSecurityGroup(ctx context.Context, groupID string) error {
	err := r.write(ctx, func(q querier) error { return r.deleteGroup(ctx, q, groupID) })
	return r.failDelete(err, "delete security group %s", groupID)
}

const ruleCols = "rule_id, group_id, is_egress, ip_protocol, from_port, to_port, cidr_ipv4, cidr_ipv6, referenced_group_id, description"

// AddSecurityGroupRules implements store.SecurityGroups. The rules are
// added all or none. Two rules are identical when they agree on every
// field but RuleID and Description; rules identical to each other in one
// call conflict too.
func (r *repo) AddSecurityGroupRules(ctx context.Context, rules []store.SecurityGroupRule) error {
	err := r.write(ctx, func(q querier) error {
		exists := r.q("SELECT count(*) FROM security_groups WHERE group_id = ?")
		insert := r.q("INSERT INTO security_group_rules (" + ruleCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		for _, ru := range rules {
			for _, g := range []string{ru.GroupID, ru.ReferencedGroupID} {
				if g == "" {
					continue
				}
				var n int64
				if err := q.QueryRowContext(ctx, exists, g).Scan(&n); err != nil {
					return err
				}
				if n == 0 {
					return fmt.Errorf("rule %s: %w", ru.RuleID, notFound("security group %s", g))
				}
			}
			if _, err := q.ExecContext(ctx, insert, ru.RuleID, ru.GroupID, boolInt(ru.IsEgress), ru.IpProtocol,
				ru.FromPort, ru.ToPort, ru.CidrIpv4, ru.CidrIpv6, ru.ReferencedGroupID, ru.Description); err != nil {
				return fmt.Errorf("rule %s: %w", ru.RuleID, err)
			}
		}
		return nil
	})
	return r.fail(err, "add security group rules")
}

// RemoveSecurityGroupRules implements store.SecurityGroups. The rules are
// removed all or none; a missing id is store.ErrNotFound.
func (r *repo) RemoveSecurityGroupRules(ctx context.Context, ruleIDs []string) error {
	err := r.write(ctx, func(q querier) error {
		del := r.q("DELETE FROM security_group_rules WHERE rule_id = ?")
		for _, id := range ruleIDs {
			if err := mustAffect(q.ExecContext(ctx, del, id)); err != nil {
				return fmt.Errorf("rule %s: %w", id, err)
			}
		}
		return nil
	})
	return r.fail(err, "remove security group rules")
}

// ListSecurityGroupRules implements store.SecurityGroups.
func (r *repo) ListSecurityGroupRules(ctx context.Context, groupIDs []string) ([]store.SecurityGroupRule, error) {
	query, q := "SELECT "+ruleCols+" FROM security_group_rules", r.read()
	if len(groupIDs) > 0 {
		query += " WHERE group_id IN (" + placeholders(len(groupIDs)) + ")"
		q = r.readAdHoc()
	}
	rows, err := q.QueryContext(ctx, r.q(query+" ORDER BY group_id, rule_id"), anySlice(groupIDs)...)
	if err != nil {
		return nil, r.fail(err, "list security group rules")
	}
	defer rows.Close()
	var out []store.SecurityGroupRule
	for rows.Next() {
		var ru store.SecurityGroupRule
		var egress int64
		if err := rows.Scan(&ru.RuleID, &ru.GroupID, &egress, &ru.IpProtocol, &ru.FromPort, &ru.ToPort,
			&ru.CidrIpv4, &ru.CidrIpv6, &ru.ReferencedGroupID, &ru.Description); err != nil {
			return nil, r.fail(err, "list security group rules")
		}
		ru.IsEgress = egress != 0
		out = append(out, ru)
	}
	if err := rows.Err(); err != nil {
		return nil, r.fail(err, "list security group rules")
	}
	return out, nil
}

// ---- ordered child rows (security groups, network interfaces) ----

// insertOrdered writes (owner, position, value) rows. table, ownerCol and
// valueCol are fixed identifiers from this file.
func (r *repo) insertOrdered(ctx context.Context, q querier, table, ownerCol, valueCol, owner string, values []string) error {
	if len(values) == 0 {
		return nil
	}
	insert := r.q("INSERT INTO " + table + " (" + ownerCol + ", position, " + valueCol + ") VALUES (?, ?, ?)")
	for pos, v := range values {
		if _, err := q.ExecContext(ctx, insert, owner, pos, v); err != nil {
			return fmt.Errorf("%s %s: %w", valueCol, v, err)
		}
	}
	return nil
}

// orderedOf loads the (owner, value) rows of the parents by position.
func (r *repo) orderedOf(ctx context.Context, q querier, table, ownerCol, valueCol string, p parents) (map[string][]string, error) {
	rows, err := q.QueryContext(ctx, r.q("SELECT "+ownerCol+", "+valueCol+" FROM "+table+
		" WHERE "+ownerCol+" IN ("+p.ids+") ORDER BY "+ownerCol+", position"), p.args...)
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

// ---- instances ----

const instanceCols = "instance_id, subnet_id, vpc_id, private_ip_address, ipv6_address, public_ip_address, platform," +
	" availability_zone, state, launch_time"

// CreateInstance implements store.Instances. A missing subnet, VPC or
// security group is store.ErrNotFound.
func (r *repo) CreateInstance(ctx context.Context, i store.Instance) error {
	err := r.write(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO instances ("+instanceCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			i.InstanceID, i.SubnetID, i.VpcID, i.PrivateIPAddress, i.Ipv6Address, i.PublicIPAddress, i.Platform,
			i.AvailabilityZone, i.State, toMicros(i.LaunchTime)); err != nil {
			return err
		}
		if err := r.insertOrdered(ctx, q, "instance_security_groups", "instance_id", "group_id", i.InstanceID, i.SecurityGroupIDs); err != nil {
			return err
		}
		return r.setTags(ctx, q, i.InstanceID, i.Tags)
	})
	return r.fail(err, "create instance %s", i.InstanceID)
}

func (r *repo) selectInstances(ctx context.Context, where string, args ...any) ([]store.Instance, error) {
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
			if err := rows.Scan(&i.InstanceID, &i.SubnetID, &i.VpcID, &i.PrivateIPAddress, &i.Ipv6Address,
				&i.PublicIPAddress, &i.Platform, &i.AvailabilityZone, &i.State, &launched); err != nil {
				return err
			}
			i.LaunchTime = fromMicros(launched)
			out = append(out, i)
		}
		if err := rows.Err(); err != nil || len(out) == 0 {
			return err
		}
		p := parents{"SELECT instance_id FROM instances" + where, args}
		groups, err := r.orderedOf(ctx, q, "instance_security_groups", "instance_id", "group_id", p)
		if err != nil {
			return err
		}
		tags, err := r.tagsOf(ctx, q, p)
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
	is, err := r.selectInstances(ctx, " WHERE instance_id = ?", instanceID)
	if err == nil && len(is) == 0 {
		err = notFound("instance %s", instanceID)
	}
	if err != nil {
		return store.Instance{}, r.fail(err, "get instance %s", instanceID)
	}
	return is[0], nil
}

// FindInstanceByAddress implements store.Instances. ip is compared as
// text, so the caller passes the canonical form the instances were stored
// in. If several instances of the VPC share an IPv6 address (nothing
// forbids it) the one with the lowest id is returned.
func (r *repo) FindInstanceByAddress(ctx context.Context, vpcID, ip string) (store.Instance, error) {
	var is []store.Instance
	var err error
	if ip != "" { // "" is the IPv6 address of every instance without one
		// Two index searches (0002's UNIQUE (vpc_id, private_ip_address),
		// 0004's instances_by_ipv6); an OR would scan the VPC's instances.
		is, err = r.selectInstances(ctx, " WHERE instance_id IN ("+
			"SELECT instance_id FROM instances WHERE vpc_id = ? AND private_ip_address = ? UNION ALL "+
			"SELECT instance_id FROM instances WHERE vpc_id = ? AND ipv6_address = ?)", vpcID, ip, vpcID, ip)
	}
	if err == nil && len(is) == 0 {
		err = notFound("instance with address %q in %s", ip, vpcID)
	}
	if err != nil {
		return store.Instance{}, r.fail(err, "find instance by address %q in %s", ip, vpcID)
	}
	return is[0], nil
}

// ListInstances implements store.Instances.
func (r *repo) ListInstances(ctx context.Context) ([]store.Instance, error) {
	is, err := r.selectInstances(ctx, "")
	return is, r.fail(err, "list instances")
}

// SetInstanceSecurityGroups implements store.Instances. A missing
// instance or group is store.ErrNotFound, and then nothing changes.
func (r *repo) SetInstanceSecurityGroups(ctx context.Context, instanceID string, groupIDs []string) error {
	err := r.write(ctx, func(q querier) error {
		var n int64
		if err := q.QueryRowContext(ctx, r.q("SELECT count(*) FROM instances WHERE instance_id = ?"), instanceID).Scan(&n); err != nil {
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

// DeleteInstance implements store.Instances. The instance's tags go with it.
func (r *repo) DeleteInstance(ctx context.Context, instanceID string) error {
	err := r.write(ctx, func(q querier) error {
		for _, stmt := range []string{
			"DELETE FROM instance_security_groups WHERE instance_id = ?",
			"DELETE FROM resource_tags WHERE resource_id = ?",
		} {
			if _, err := q.ExecContext(ctx, r.q(stmt), instanceID); err != nil {
				return err
			}
		}
		return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM instances WHERE instance_id = ?"), instanceID))
	})
	return r.failDelete(err, "delete instance %s", instanceID)
}

// ---- endpoints ----

const endpointCols = "endpoint_id, arn, owner_id, state, state_message, dns_name, fips_dns_name, subnet_id, vpc_id," +
	" availability_zone, availability_zone_id, preserve_client_ip, ip_address_type, client_token, created_at, deleted_at"

// deletedMicros stores a zero DeletedAt (a live endpoint) as 0.
func deletedMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return toMicros(t)
}

// CreateEndpoint implements store.Endpoints. A missing subnet, VPC or
// security group is store.ErrNotFound.
func (r *repo) CreateEndpoint(ctx context.Context, e store.Endpoint) error {
	err := r.write(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO endpoints ("+endpointCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			e.EndpointID, e.ARN, e.OwnerID, e.State, e.StateMessage, e.DNSName, e.FipsDNSName, e.SubnetID, e.VpcID,
			e.AvailabilityZone, e.AvailabilityZoneID, boolInt(e.PreserveClientIP), e.IPAddressType, e.ClientToken,
			toMicros(e.CreatedAt), deletedMicros(e.DeletedAt)); err != nil {
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

// selectEndpoints reads endpoints with their children: those that where
// (" WHERE …" or "") selects, ordered by id, at most limit (0: all).
func (r *repo) selectEndpoints(ctx context.Context, q querier, where string, limit int, args ...any) ([]store.Endpoint, error) {
	sel := " FROM endpoints" + where + " ORDER BY endpoint_id"
	if limit > 0 {
		sel += " LIMIT ?"
		args = append(args[:len(args):len(args)], limit)
	}
	rows, err := q.QueryContext(ctx, r.q("SELECT "+endpointCols+sel), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Endpoint
	for rows.Next() {
		var e store.Endpoint
		var pci, created, deleted int64
		if err := rows.Scan(&e.EndpointID, &e.ARN, &e.OwnerID, &e.State, &e.StateMessage, &e.DNSName, &e.FipsDNSName,
			&e.SubnetID, &e.VpcID, &e.AvailabilityZone, &e.AvailabilityZoneID, &pci, &e.IPAddressType, &e.ClientToken,
			&created, &deleted); err != nil {
			return nil, err
		}
		e.PreserveClientIP, e.CreatedAt = pci != 0, fromMicros(created)
		if deleted != 0 {
			e.DeletedAt = fromMicros(deleted)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	rows.Close()
	p := parents{"SELECT endpoint_id" + sel, args}
	groups, err := r.orderedOf(ctx, q, "endpoint_security_groups", "endpoint_id", "group_id", p)
	if err != nil {
		return nil, err
	}
	enis, err := r.orderedOf(ctx, q, "endpoint_network_interfaces", "endpoint_id", "eni_id", p)
	if err != nil {
		return nil, err
	}
	tags, err := r.tagsOf(ctx, q, p)
	if err != nil {
		return nil, err
	}
	for k := range out {
		id := out[k].EndpointID
		out[k].SecurityGroupIDs, out[k].NetworkInterfaceIDs, out[k].Tags = groups[id], enis[id], tags[id]
	}
	return out, nil
}

// GetEndpoint implements store.Endpoints. Outside a transaction the
// endpoint comes from the cached listing (see ListEndpoints), loaded
// first when it is not current; inside one, from the cache only while it
// is current.
func (r *repo) GetEndpoint(ctx context.Context, endpointID string) (store.Endpoint, error) {
	snap := r.cachedEndpoints(ctx)
	if snap == nil && r.tx == nil && r.s.bound(ctx) == nil {
		// Outside a transaction, load the listing (once per change of
		// the endpoints): every tunnel open and every Describe by id
		// reads an endpoint, and the listing makes that a point read
		// of the change counter (BenchmarkAPIBinary/DescribeEndpointByID).
		if s, err := r.endpointSnapshot(ctx); err == nil && s.byID != nil {
			snap = s
		}
	}
	if snap != nil {
		i, ok := snap.byID[endpointID]
		if !ok {
			return store.Endpoint{}, r.fail(notFound("endpoint %s", endpointID), "get endpoint %s", endpointID)
		}
		return copyEndpoints(snap.all[i : i+1])[0], nil
	}
	var es []store.Endpoint
	err := r.view(ctx, func(q querier) error {
		var err error
		es, err = r.selectEndpoints(ctx, q, " WHERE endpoint_id = ?", 0, endpointID)
		return err
	})
	if err == nil && len(es) == 0 {
		err = notFound("endpoint %s", endpointID)
	}
	if err != nil {
		return store.Endpoint{}, r.fail(err, "get endpoint %s", endpointID)
	}
	return es[0], nil
}

// ListEndpoints implements store.Endpoints. The listing is cached; see
// endpointCache.
func (r *repo) ListEndpoints(ctx context.Context) ([]store.Endpoint, error) {
	snap, err := r.endpointSnapshot(ctx)
	if err != nil {
		return nil, r.fail(err, "list endpoints")
	}
	return copyEndpoints(snap.all), nil
}

// ListEndpointsPage implements store.Endpoints. It reads only the
// selected rows, or filters the cached listing while there is one.
func (r *repo) ListEndpointsPage(ctx context.Context, eq store.EndpointQuery) ([]store.Endpoint, error) {
	if snap := r.cachedEndpoints(ctx); snap != nil {
		return snap.page(eq), nil
	}
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
	var es []store.Endpoint
	err := r.view(ctx, func(q querier) error {
		var err error
		es, err = r.selectEndpoints(ctx, q, where, eq.Limit, args...)
		return err
	})
	return es, r.fail(err, "list endpoints page")
}

// UpdateEndpoint implements store.Endpoints. A missing group is
// store.ErrNotFound, and then nothing changes.
func (r *repo) UpdateEndpoint(ctx context.Context, e store.Endpoint) error {
	err := r.write(ctx, func(q querier) error {
		err := mustAffect(q.ExecContext(ctx, r.q("UPDATE endpoints SET state = ?, state_message = ?, preserve_client_ip = ?,"+
			" ip_address_type = ?, deleted_at = ?, dns_name = ?, fips_dns_name = ? WHERE endpoint_id = ?"),
			e.State, e.StateMessage, boolInt(e.PreserveClientIP), e.IPAddressType, deletedMicros(e.DeletedAt), e.DNSName, e.FipsDNSName, e.EndpointID))
		if errors.Is(err, store.ErrNotFound) {
			return notFound("endpoint %s", e.EndpointID)
		}
		if err != nil {
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

// purgeEndpoints deletes the endpoints marked deleted that cond (on
// endpoints' columns) selects, with their children and tags, and returns
// how many it deleted.
func (r *repo) purgeEndpoints(ctx context.Context, q querier, cond string, args ...any) (int, error) {
	where := " WHERE deleted_at <> 0 AND " + cond
	sub := "SELECT endpoint_id FROM endpoints" + where
	for _, stmt := range []string{
		"DELETE FROM endpoint_security_groups WHERE endpoint_id IN (" + sub + ")",
		"DELETE FROM endpoint_network_interfaces WHERE endpoint_id IN (" + sub + ")",
		"DELETE FROM resource_tags WHERE resource_id IN (" + sub + ")",
	} {
		if _, err := q.ExecContext(ctx, r.q(stmt), args...); err != nil {
			return 0, err
		}
	}
	res, err := q.ExecContext(ctx, r.q("DELETE FROM endpoints"+where), args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// PurgeEndpoints implements store.Endpoints. Their tags go with them.
func (r *repo) PurgeEndpoints(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := r.write(ctx, func(q querier) error {
		var err error
		n, err = r.purgeEndpoints(ctx, q, "deleted_at < ?", toMicros(before))
		return err
	})
	return n, r.fail(err, "purge endpoints deleted before %s", before.UTC().Format(time.RFC3339))
}

// ---- client tokens ----

// PutClientToken implements store.ClientTokens.
func (r *repo) PutClientToken(ctx context.Context, t store.ClientToken) error {
	err := r.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.q("INSERT INTO client_tokens (action, token, params_hash, resource_id, create_date)"+
			" VALUES (?, ?, ?, ?, ?)"), t.Action, t.Token, t.ParamsHash, t.ResourceID, toMicros(t.CreateDate))
		return err
	})
	return r.fail(err, "put client token for %s", t.Action)
}

// GetClientToken implements store.ClientTokens.
func (r *repo) GetClientToken(ctx context.Context, action, token string) (store.ClientToken, error) {
	t := store.ClientToken{Action: action, Token: token}
	var created int64
	err := r.read().QueryRowContext(ctx, r.q("SELECT params_hash, resource_id, create_date FROM client_tokens"+
		" WHERE action = ? AND token = ?"), action, token).Scan(&t.ParamsHash, &t.ResourceID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		err = notFound("client token for %s", action)
	}
	if err != nil {
		return store.ClientToken{}, r.fail(err, "get client token")
	}
	t.CreateDate = fromMicros(created)
	return t, nil
}
