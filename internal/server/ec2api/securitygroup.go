package ec2api

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

type createSecurityGroupResult struct {
	GroupID          string    `xml:"groupId"`
	SecurityGroupArn string    `xml:"securityGroupArn"`
	TagSet           tagSetXML `xml:"tagSet"`
}

// createSecurityGroup is CreateSecurityGroup: GroupName, GroupDescription,
// VpcId (required: Postern has no default VPC), TagSpecification.N. The new
// group allows all IPv4 traffic out, and all IPv6 traffic when its VPC has
// an IPv6 block, as AWS's new groups do.
func (s *service) createSecurityGroup(c *api.Call) (any, error) {
	p := c.Params
	name, err := p.Required("GroupName")
	if err != nil {
		return nil, err
	}
	desc, err := p.Required("GroupDescription")
	if err != nil {
		return nil, err
	}
	switch {
	case utf8.RuneCountInString(name) > 255 || !validDescription(name):
		return nil, awsproto.InvalidParameterValue("Invalid security group name. Valid names are strings of at most 255 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
	case strings.HasPrefix(strings.ToLower(name), "sg-"):
		return nil, awsproto.InvalidParameterValue("Group names may not be in the format sg-*.")
	case !validDescription(desc):
		return nil, awsproto.InvalidParameterValue("Invalid security group description. Valid descriptions are strings of at most 255 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
	}
	vpcID := p.Get("VpcId")
	if vpcID == "" {
		return nil, badRequest(codeNoDefaultVPC, "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
	}
	if err := kindVpc.check(vpcID); err != nil {
		return nil, err
	}
	tags, err := parseTagSpecs(p, kindGroup.arnType)
	if err != nil {
		return nil, err
	}
	// The VPC is authorized first: on the ARN built from its id when it
	// does not exist, so that a caller without permission is told the
	// same for a VPC that exists and one that does not.
	id := s.newID(kindGroup)
	arn := s.arn(kindGroup, id)
	_, err = authorizeCreateIn(s, c, vpcID, s.getVpc, func(v store.Vpc) []store.Tag { return v.Tags },
		check{action: "ec2:CreateSecurityGroup", resource: s.arn(kindVpc, vpcID)},
		createChecks("CreateSecurityGroup", arn, tags), s.authorizeAndDryRun)
	if err != nil {
		return nil, err
	}
	g := store.SecurityGroup{GroupID: id, GroupName: name, Description: desc, VpcID: vpcID, CreateDate: s.now()}
	err = s.createTagged(c, id, tags, func(tx store.Repo) error {
		err := tx.CreateSecurityGroup(ctx(c), g)
		if errors.Is(err, store.ErrConflict) {
			return badRequest(codeGroupDuplicate, "The security group '%s' already exists for VPC '%s'", name, vpcID)
		}
		if err := createErr(err, kindGroup, id, kindVpc, vpcID); err != nil {
			return err
		}
		egress := []store.SecurityGroupRule{{RuleID: s.newID(kindRule), GroupID: id, IsEgress: true, IpProtocol: protoAll, FromPort: -1, ToPort: -1, CidrIpv4: "0.0.0.0/0"}}
		// The VPC as it is in this transaction: a block associated since
		// the authorization read counts.
		cur, err := tx.GetVpc(ctx(c), vpcID)
		if err != nil {
			return storeErr(err, "get vpc %s", vpcID)
		}
		if cur.Ipv6CidrBlock != "" {
			egress = append(egress, store.SecurityGroupRule{RuleID: s.newID(kindRule), GroupID: id, IsEgress: true, IpProtocol: protoAll, FromPort: -1, ToPort: -1, CidrIpv6: "::/0"})
		}
		if err := tx.AddSecurityGroupRules(ctx(c), egress); err != nil {
			return storeErr(err, "add default egress rule of %s", id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return createSecurityGroupResult{GroupID: id, SecurityGroupArn: arn, TagSet: tagSet(tags)}, nil
}

// getGroup reads a security group, answering InvalidGroup.NotFound when it
// is missing.
func (s *service) getGroup(c *api.Call, id string) (store.SecurityGroup, error) {
	return getOne(c, kindGroup, id, s.st.GetSecurityGroup)
}

// targetGroup resolves the GroupId or GroupName parameter of an action on
// one group. A name must be unique among all VPCs (Postern has no default
// VPC to look names up in).
func (s *service) targetGroup(c *api.Call) (store.SecurityGroup, error) {
	p := c.Params
	if id := p.Get("GroupId"); id != "" {
		if err := kindGroup.check(id); err != nil {
			return store.SecurityGroup{}, err
		}
		return s.getGroup(c, id)
	}
	name := p.Get("GroupName")
	if name == "" {
		return store.SecurityGroup{}, awsproto.MissingParameter("GroupId")
	}
	groups, err := s.st.ListSecurityGroups(ctx(c), "")
	if err != nil {
		return store.SecurityGroup{}, storeErr(err, "list security groups")
	}
	var found []store.SecurityGroup
	for _, g := range groups {
		if g.GroupName == name {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return store.SecurityGroup{}, badRequest(codeGroupNotFound, "The security group '%s' does not exist", name)
	case 1:
		return found[0], nil
	}
	return store.SecurityGroup{}, awsproto.InvalidParameterValue("The security group name '%s' is used in several VPCs; specify the group by GroupId.", name)
}

// hideMissingGroup is hideMissing for the group targetGroup did not find
// by its GroupId (a name does not make an ARN).
func (s *service) hideMissingGroup(c *api.Call, err error, action string) error {
	id := c.Params.Get("GroupId")
	return s.hideMissing(c, err, id, s.groupCheck(action, store.SecurityGroup{GroupID: id}))
}

// groupARNCheck authorizes action on a group with its tags.
func (s *service) groupCheck(action string, g store.SecurityGroup) check {
	return check{action: action, resource: s.arn(kindGroup, g.GroupID), ctx: withResourceTags(policyContext(), g.Tags)}
}

// resolvePeer returns the id of a permission's group peer, which must lie
// in the VPC vpcID. For revokes the group need not exist any more when it
// is named by id.
func (s *service) resolvePeer(c *api.Call, vpcID string, gp groupPeer, mustExist bool) (string, error) {
	if gp.UserID != "" && gp.UserID != s.cfg.AccountID {
		return "", awsproto.InvalidParameterValue("Invalid user id '%s': this Postern installation has only account %s.", gp.UserID, s.cfg.AccountID)
	}
	if gp.GroupID != "" {
		if !mustExist {
			return gp.GroupID, nil
		}
		g, err := s.getGroup(c, gp.GroupID)
		if err != nil {
			return "", err
		}
		if g.VpcID != vpcID {
			return "", badRequest(codeGroupNotFound, "You have specified two resources that belong to different networks.")
		}
		return g.GroupID, nil
	}
	g, err := s.st.GetSecurityGroupByName(ctx(c), vpcID, gp.GroupName)
	if errors.Is(err, store.ErrNotFound) {
		return "", badRequest(codeGroupNotFound, "The security group '%s' does not exist in VPC '%s'", gp.GroupName, vpcID)
	}
	if err != nil {
		return "", storeErr(err, "get security group %q of %s", gp.GroupName, vpcID)
	}
	return g.GroupID, nil
}

// expandRules turns permissions into one rule per peer for group g (rule
// ids not yet assigned).
func (s *service) expandRules(c *api.Call, g store.SecurityGroup, perms []permission, egress, mustExist bool) ([]store.SecurityGroupRule, error) {
	var out []store.SecurityGroupRule
	for _, perm := range perms {
		base := store.SecurityGroupRule{GroupID: g.GroupID, IsEgress: egress, IpProtocol: perm.Protocol, FromPort: perm.FromPort, ToPort: perm.ToPort}
		for _, r := range perm.IPv4 {
			rule := base
			rule.CidrIpv4, rule.Description = r.CIDR, r.Description
			out = append(out, rule)
		}
		for _, r := range perm.IPv6 {
			rule := base
			rule.CidrIpv6, rule.Description = r.CIDR, r.Description
			out = append(out, rule)
		}
		for _, gp := range perm.Groups {
			id, err := s.resolvePeer(c, g.VpcID, gp, mustExist)
			if err != nil {
				return nil, err
			}
			rule := base
			rule.ReferencedGroupID, rule.Description = id, gp.Description
			out = append(out, rule)
		}
	}
	return out, nil
}

type authorizeResult struct {
	Return               bool                    `xml:"return"`
	SecurityGroupRuleSet securityGroupRuleSetXML `xml:"securityGroupRuleSet"`
}

// authorizeIngress is AuthorizeSecurityGroupIngress.
func (s *service) authorizeIngress(c *api.Call) (any, error) { return s.authorizeRules(c, false) }

// authorizeEgress is AuthorizeSecurityGroupEgress.
func (s *service) authorizeEgress(c *api.Call) (any, error) { return s.authorizeRules(c, true) }

// authorizeRules is AuthorizeSecurityGroupIngress/Egress: GroupId (or
// GroupName) and the rules in either form. A rule that exists already, or
// is given twice, is InvalidPermission.Duplicate and nothing is added.
func (s *service) authorizeRules(c *api.Call, egress bool) (any, error) {
	perms, err := parsePermissions(c.Params)
	if err != nil {
		return nil, err
	}
	if len(perms) == 0 {
		return nil, awsproto.MissingParameter("IpPermissions")
	}
	g, err := s.targetGroup(c)
	if err != nil {
		return nil, s.hideMissingGroup(c, err, "ec2:"+c.Action)
	}
	// The target group before the groups its rules refer to are looked up.
	if err := s.authorize(c, s.groupCheck("ec2:"+c.Action, g)); err != nil {
		return nil, err
	}
	rules, err := s.expandRules(c, g, perms, egress, true)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeAndDryRun(c, s.groupCheck("ec2:"+c.Action, g)); err != nil {
		return nil, err
	}
	for i := range rules {
		rules[i].RuleID = s.newID(kindRule)
	}
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		existing, err := tx.ListSecurityGroupRules(ctx(c), []string{g.GroupID})
		if err != nil {
			return storeErr(err, "list rules of %s", g.GroupID)
		}
		seen := map[ruleKey]bool{}
		for _, r := range existing {
			seen[keyOf(r)] = true
		}
		for _, r := range rules {
			if seen[keyOf(r)] {
				return badRequest(codePermissionDuplicate, "the specified rule \"%s\" already exists", describeRule(r))
			}
			seen[keyOf(r)] = true
		}
		if err := tx.AddSecurityGroupRules(ctx(c), rules); err != nil {
			switch {
			case errors.Is(err, store.ErrConflict):
				return badRequest(codePermissionDuplicate, "the specified rule already exists")
			case errors.Is(err, store.ErrNotFound):
				return kindGroup.errNotFound(g.GroupID)
			}
			return storeErr(err, "add rules to %s", g.GroupID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return authorizeResult{Return: true, SecurityGroupRuleSet: s.ruleSetXML(rules)}, nil
}

type revokeResult struct {
	Return                      bool `xml:"return"`
	RevokedSecurityGroupRuleSet struct {
		Items []revokedRuleXML `xml:"item"`
	} `xml:"revokedSecurityGroupRuleSet"`
}

// revokeIngress is RevokeSecurityGroupIngress.
func (s *service) revokeIngress(c *api.Call) (any, error) { return s.revokeRules(c, false) }

// revokeEgress is RevokeSecurityGroupEgress.
func (s *service) revokeEgress(c *api.Call) (any, error) { return s.revokeRules(c, true) }

// revokeRules is RevokeSecurityGroupIngress/Egress: GroupId (or
// GroupName) and the rules in either form, or SecurityGroupRuleId.N. A
// rule that does not exist is InvalidPermission.NotFound (as AWS answers
// for VPC security groups) and nothing is removed.
func (s *service) revokeRules(c *api.Call, egress bool) (any, error) {
	perms, err := parsePermissions(c.Params)
	if err != nil {
		return nil, err
	}
	ruleIDs := dedupe(scalarList(c.Params, "SecurityGroupRuleId"))
	switch {
	case len(perms) > 0 && len(ruleIDs) > 0:
		return nil, errCombination("The parameter SecurityGroupRuleId cannot be used with IpPermissions.")
	case len(perms) == 0 && len(ruleIDs) == 0:
		return nil, awsproto.MissingParameter("IpPermissions")
	}
	if err := kindRule.checkAll(ruleIDs); err != nil {
		return nil, err
	}
	g, err := s.targetGroup(c)
	if err != nil {
		return nil, s.hideMissingGroup(c, err, "ec2:"+c.Action)
	}
	// The target group before the groups its rules refer to are looked up.
	if err := s.authorize(c, s.groupCheck("ec2:"+c.Action, g)); err != nil {
		return nil, err
	}
	wanted, err := s.expandRules(c, g, perms, egress, false)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeAndDryRun(c, s.groupCheck("ec2:"+c.Action, g)); err != nil {
		return nil, err
	}
	var removed []store.SecurityGroupRule
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		removed = nil // InTx may run this again after a serialization failure
		existing, err := tx.ListSecurityGroupRules(ctx(c), []string{g.GroupID})
		if err != nil {
			return storeErr(err, "list rules of %s", g.GroupID)
		}
		byKey := map[ruleKey]store.SecurityGroupRule{}
		byID := map[string]store.SecurityGroupRule{}
		for _, r := range existing {
			if r.IsEgress == egress {
				byKey[keyOf(r)] = r
				byID[r.RuleID] = r
			}
		}
		taken := map[string]bool{}
		for _, w := range wanted {
			r, ok := byKey[keyOf(w)]
			if !ok {
				return badRequest(codePermissionNotFound, "The specified rule does not exist in this security group.")
			}
			if !taken[r.RuleID] {
				taken[r.RuleID] = true
				removed = append(removed, r)
			}
		}
		var missing []string
		for _, id := range ruleIDs {
			r, ok := byID[id]
			if !ok {
				missing = append(missing, id)
				continue
			}
			if !taken[id] {
				taken[id] = true
				removed = append(removed, r)
			}
		}
		if len(missing) > 0 {
			return kindRule.errNotFound(missing...)
		}
		ids := make([]string, len(removed))
		for i, r := range removed {
			ids[i] = r.RuleID
		}
		if err := tx.RemoveSecurityGroupRules(ctx(c), ids); err != nil {
			return storeErr(err, "remove rules of %s", g.GroupID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := revokeResult{Return: true}
	out.RevokedSecurityGroupRuleSet.Items = make([]revokedRuleXML, 0, len(removed))
	for _, r := range removed {
		out.RevokedSecurityGroupRuleSet.Items = append(out.RevokedSecurityGroupRuleSet.Items, revokedRuleXML{
			SecurityGroupRuleID: r.RuleID, GroupID: r.GroupID, ruleMatchXML: ruleMatch(r),
			ReferencedGroupID: r.ReferencedGroupID, Description: r.Description,
		})
	}
	return out, nil
}

type describeSecurityGroupsResult struct {
	SecurityGroupInfo itemSet[securityGroupXML] `xml:"securityGroupInfo"`
	NextToken         string                    `xml:"nextToken,omitempty"`
}

var groupFilters = newFilterSpec(true, "vpc-id", "group-id", "group-name", "description", "owner-id",
	"ip-permission.cidr", "ip-permission.ipv6-cidr", "ip-permission.group-id", "ip-permission.protocol",
	"ip-permission.from-port", "ip-permission.to-port",
	"egress.ip-permission.cidr", "egress.ip-permission.ipv6-cidr", "egress.ip-permission.group-id",
	"egress.ip-permission.protocol", "egress.ip-permission.from-port", "egress.ip-permission.to-port")

// describeSecurityGroups is DescribeSecurityGroups: GroupId.N, GroupName.N,
// Filter.N, MaxResults (5–1000), NextToken.
func (s *service) describeSecurityGroups(c *api.Call) (any, error) {
	names := dedupe(scalarList(c.Params, "GroupName"))
	var rulesOf map[string][]store.SecurityGroupRule
	return describe(s, c, describer[store.SecurityGroup]{
		describeParams: describeParams{idParam: "GroupId", kind: kindGroup, filters: groupFilters, minPage: 5, maxPage: 1000},
		id:             func(g store.SecurityGroup) string { return g.GroupID },
		list: func(c *api.Call, _ describeQuery) ([]store.SecurityGroup, error) {
			return s.st.ListSecurityGroups(ctx(c), "")
		},
		listing: "list security groups",
		prepare: func(c *api.Call, groups []store.SecurityGroup) ([]store.SecurityGroup, error) {
			if len(names) > 0 {
				var kept []store.SecurityGroup
				for _, n := range names {
					found := false
					for _, g := range groups {
						if g.GroupName == n {
							kept = append(kept, g)
							found = true
						}
					}
					if !found {
						return nil, badRequest(codeGroupNotFound, "The security group '%s' does not exist", n)
					}
				}
				groups = kept
			}
			rules, err := s.st.ListSecurityGroupRules(ctx(c), nil)
			if err != nil {
				return nil, storeErr(err, "list security group rules")
			}
			rulesOf = map[string][]store.SecurityGroupRule{}
			for _, r := range rules {
				rulesOf[r.GroupID] = append(rulesOf[r.GroupID], r)
			}
			return groups, nil
		},
		values: func(g store.SecurityGroup) func(string) []string { return s.groupFilterValues(g, rulesOf[g.GroupID]) },
		render: func(pg []store.SecurityGroup, next string) any {
			xml := func(g store.SecurityGroup) securityGroupXML { return s.securityGroupXML(g, rulesOf[g.GroupID]) }
			return describeSecurityGroupsResult{SecurityGroupInfo: xmlItems(pg, xml), NextToken: next}
		},
	})
}

// groupFilterValues answers the DescribeSecurityGroups filters for g
// (ip-permission.* over its ingress rules, egress.ip-permission.* over egress).
func (s *service) groupFilterValues(g store.SecurityGroup, rules []store.SecurityGroupRule) func(string) []string {
	return withTagFilters(g.Tags, func(name string) []string {
		switch name {
		case "vpc-id":
			return []string{g.VpcID}
		case "group-id":
			return []string{g.GroupID}
		case "group-name":
			return []string{g.GroupName}
		case "description":
			return []string{g.Description}
		case "owner-id":
			return []string{s.cfg.AccountID}
		}
		field, egress := strings.CutPrefix(name, "egress.")
		field, _ = strings.CutPrefix(field, "ip-permission.")
		var vals []string
		for _, r := range rules {
			if r.IsEgress != egress {
				continue
			}
			switch field {
			case "cidr":
				vals = appendIf(vals, r.CidrIpv4)
			case "ipv6-cidr":
				vals = appendIf(vals, r.CidrIpv6)
			case "group-id":
				vals = appendIf(vals, r.ReferencedGroupID)
			case "protocol":
				vals = append(vals, r.IpProtocol)
			case "from-port":
				vals = append(vals, strconv.Itoa(int(r.FromPort)))
			case "to-port":
				vals = append(vals, strconv.Itoa(int(r.ToPort)))
			}
		}
		return vals
	})
}

// appendIf appends v unless it is empty.
func appendIf(vals []string, v string) []string {
	if v == "" {
		return vals
	}
	return append(vals, v)
}

type deleteSecurityGroupResult struct {
	Return  bool   `xml:"return"`
	GroupID string `xml:"groupId"`
}

// deleteSecurityGroup is DeleteSecurityGroup: GroupId or GroupName. A VPC's
// default group cannot be deleted (CannotDelete); a group still used by an
// instance or endpoint, or referenced by another group's rule, is
// DependencyViolation.
func (s *service) deleteSecurityGroup(c *api.Call) (any, error) {
	g, err := s.targetGroup(c)
	if err != nil {
		return nil, s.hideMissingGroup(c, err, "ec2:DeleteSecurityGroup")
	}
	if err := s.authorizeAndDryRun(c, s.groupCheck("ec2:DeleteSecurityGroup", g)); err != nil {
		return nil, err
	}
	if g.IsDefault {
		return nil, badRequest(codeCannotDelete, "the specified group: \"%s\" name: \"%s\" cannot be deleted by a user", g.GroupID, g.GroupName)
	}
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		if err := deleteErr(tx.DeleteSecurityGroup(ctx(c), g.GroupID), kindGroup, g.GroupID, "resource %s has a dependent object"); err != nil {
			return err
		}
		return clearTags(ctx(c), tx, g.GroupID)
	})
	if err != nil {
		return nil, err
	}
	return deleteSecurityGroupResult{Return: true, GroupID: g.GroupID}, nil
}

type describeSecurityGroupRulesResult struct {
	SecurityGroupRuleSet securityGroupRuleSetXML `xml:"securityGroupRuleSet"`
	NextToken            string                  `xml:"nextToken,omitempty"`
}

var ruleFilters = newFilterSpec(true, "group-id", "security-group-rule-id")

// describeSecurityGroupRules is DescribeSecurityGroupRules:
// SecurityGroupRuleId.N, Filter.N (group-id, security-group-rule-id, tags),
// MaxResults (5–1000), NextToken.
func (s *service) describeSecurityGroupRules(c *api.Call) (any, error) {
	return describe(s, c, describer[store.SecurityGroupRule]{
		describeParams: describeParams{idParam: "SecurityGroupRuleId", kind: kindRule, filters: ruleFilters, minPage: 5, maxPage: 1000},
		id:             func(r store.SecurityGroupRule) string { return r.RuleID },
		list: func(c *api.Call, _ describeQuery) ([]store.SecurityGroupRule, error) {
			return s.st.ListSecurityGroupRules(ctx(c), nil)
		},
		listing: "list security group rules",
		values: func(r store.SecurityGroupRule) func(string) []string {
			return func(name string) []string {
				switch name {
				case "group-id":
					return []string{r.GroupID}
				case "security-group-rule-id":
					return []string{r.RuleID}
				}
				return nil // rules carry no tags
			}
		},
		render: func(pg []store.SecurityGroupRule, next string) any {
			return describeSecurityGroupRulesResult{SecurityGroupRuleSet: s.ruleSetXML(pg), NextToken: next}
		},
	})
}
