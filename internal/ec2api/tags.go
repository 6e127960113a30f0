package ec2api

import (
	"errors"
	"sort"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/awsproto"
	"github.com/postern/postern/internal/store"
)

// taggedResource is a resource named in CreateTags/DeleteTags.
type taggedResource struct {
	id   string
	kind resourceKind
	tags []store.Tag
	// notFound is the kind's NotFound error when the resource does not
	// exist. The caller is authorized on its ARN (built from the id,
	// without tags) before being told: AWS authorizes before it looks up.
	notFound error
}

// firstNotFound returns the NotFound error of the first missing resource.
func firstNotFound(rs []taggedResource) error {
	for _, r := range rs {
		if r.notFound != nil {
			return r.notFound
		}
	}
	return nil
}

// resolveTagged checks that every id names a taggable resource and returns
// them with their current tags; missing ones carry their notFound error.
func (s *service) resolveTagged(c *api.Call, ids []string) ([]taggedResource, error) {
	out := make([]taggedResource, 0, len(ids))
	for _, id := range ids {
		k, ok := kindOf(id)
		if !ok {
			return nil, badRequest(codeInvalidID, "The ID '%s' is not valid", id)
		}
		if err := k.check(id); err != nil {
			return nil, err
		}
		tags, err := s.resourceTags(c, k, id)
		var e *awsproto.Error
		if errors.As(err, &e) && e.Code == k.notFound {
			out = append(out, taggedResource{id: id, kind: k, notFound: err})
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, taggedResource{id: id, kind: k, tags: tags})
	}
	return out, nil
}

// resourceTags reads a resource of kind k and returns its tags, or the
// kind's NotFound error.
func (s *service) resourceTags(c *api.Call, k resourceKind, id string) ([]store.Tag, error) {
	var tags []store.Tag
	var err error
	switch k.prefix {
	case kindVpc.prefix:
		var v store.Vpc
		v, err = s.st.GetVpc(ctx(c), id)
		tags = v.Tags
	case kindSubnet.prefix:
		var sn store.Subnet
		sn, err = s.st.GetSubnet(ctx(c), id)
		tags = sn.Tags
	case kindGroup.prefix:
		var g store.SecurityGroup
		g, err = s.st.GetSecurityGroup(ctx(c), id)
		tags = g.Tags
	case kindInstance.prefix:
		var i store.Instance
		i, err = s.st.GetInstance(ctx(c), id)
		tags = i.Tags
	case kindEndpoint.prefix:
		var e store.Endpoint
		e, err = s.st.GetEndpoint(ctx(c), id)
		tags = e.Tags
	default:
		return nil, badRequest(codeInvalidID, "The ID '%s' is not valid", id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, k.errNotFound(id)
	}
	if err != nil {
		return nil, storeErr(err, "get %s %s", k.noun, id)
	}
	return tags, nil
}

// createTags is CreateTags: ResourceId.N (VPCs, subnets, security groups,
// instances, endpoints) and Tag.N.Key/Value, which add or overwrite tags.
func (s *service) createTags(c *api.Call) (any, error) {
	p := c.Params
	ids := dedupe(scalarList(p, "ResourceId"))
	if len(ids) == 0 {
		return nil, awsproto.MissingParameter("ResourceId")
	}
	tags, err := parseTagList(p, "Tag")
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, awsproto.MissingParameter("Tag")
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	if _, err := dryRun(c); err != nil {
		return nil, err
	}
	resources, err := s.resolveTagged(c, ids)
	if err != nil {
		return nil, err
	}
	checks := make([]check, 0, len(resources))
	for _, r := range resources {
		cx := withRequestTags(withResourceTags(policyContext(), r.tags), tags)
		checks = append(checks, check{action: "ec2:CreateTags", resource: s.arn(r.kind, r.id), ctx: cx})
	}
	// Authorized on every resource before anything about one (whether it
	// exists, how many tags it has) is told.
	if err := s.authorize(c, checks...); err != nil {
		return nil, err
	}
	if err := firstNotFound(resources); err != nil {
		return nil, err
	}
	for _, r := range resources {
		if countAfterSet(r.tags, tags) > maxTagsPerResource {
			return nil, badRequest("TagLimitExceeded", "The maximum number of tags per resource is %d.", maxTagsPerResource)
		}
	}
	if err := honourDryRun(c); err != nil {
		return nil, err
	}
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		for _, r := range resources {
			if err := tx.SetTags(ctx(c), r.id, tags); err != nil {
				return storeErr(err, "tag %s", r.id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return returnXML{Return: true}, nil
}

// countAfterSet is how many tags a resource has after setting more.
func countAfterSet(have, set []store.Tag) int {
	keys := map[string]bool{}
	for _, t := range have {
		keys[t.Key] = true
	}
	for _, t := range set {
		keys[t.Key] = true
	}
	return len(keys)
}

// deleteTags is DeleteTags: ResourceId.N and optional Tag.N.Key/Value.
// Without Tag.N every tag goes; a tag given with a Value (even empty) is
// deleted only when its value matches, as AWS documents.
func (s *service) deleteTags(c *api.Call) (any, error) {
	p := c.Params
	ids := dedupe(scalarList(p, "ResourceId"))
	if len(ids) == 0 {
		return nil, awsproto.MissingParameter("ResourceId")
	}
	type spec struct {
		key, value string
		hasValue   bool
	}
	var specs []spec
	var keys []string
	for i, e := range structList(p, "Tag") {
		if !e.Has("Key") || e.Get("Key") == "" {
			return nil, awsproto.MissingParameter("Tag." + itoa32(int32(i+1)) + ".Key")
		}
		specs = append(specs, spec{key: e.Get("Key"), value: e.Get("Value"), hasValue: e.Has("Value")})
		keys = append(keys, e.Get("Key"))
	}
	if _, err := dryRun(c); err != nil {
		return nil, err
	}
	resources, err := s.resolveTagged(c, ids)
	if err != nil {
		return nil, err
	}
	checks := make([]check, 0, len(resources))
	for _, r := range resources {
		cx := withResourceTags(policyContext(), r.tags)
		if len(keys) > 0 {
			cx.Set("aws:TagKeys", keys...)
		}
		checks = append(checks, check{action: "ec2:DeleteTags", resource: s.arn(r.kind, r.id), ctx: cx})
	}
	// Authorized on every resource before being told one does not exist.
	if err := s.authorize(c, checks...); err != nil {
		return nil, err
	}
	if err := firstNotFound(resources); err != nil {
		return nil, err
	}
	if err := honourDryRun(c); err != nil {
		return nil, err
	}
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		for _, r := range resources {
			var del []store.Tag
			for _, t := range r.tags {
				if len(specs) == 0 {
					del = append(del, t)
					continue
				}
				for _, sp := range specs {
					if sp.key == t.Key && (!sp.hasValue || sp.value == t.Value) {
						del = append(del, t)
						break
					}
				}
			}
			if len(del) == 0 {
				continue
			}
			if err := tx.DeleteTags(ctx(c), r.id, del); err != nil {
				return storeErr(err, "delete tags of %s", r.id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return returnXML{Return: true}, nil
}

type describeTagsResult struct {
	TagSet struct {
		Items []tagDescriptionXML `xml:"item"`
	} `xml:"tagSet"`
	NextToken string `xml:"nextToken,omitempty"`
}

var tagFilters = newFilterSpec(false, "resource-id", "resource-type", "key", "value")

// describeTags is DescribeTags: Filter.N (resource-id, resource-type, key,
// value), MaxResults (5–1000), NextToken. Tags are listed by resource id,
// then key.
func (s *service) describeTags(c *api.Call) (any, error) {
	p := c.Params
	filters, err := parseFilters(p, tagFilters)
	if err != nil {
		return nil, err
	}
	page, err := parsePage(p, c.Action, 5, 1000)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeAndDryRunDescribe(c); err != nil {
		return nil, err
	}
	all, err := s.st.ListTags(ctx(c), nil)
	if err != nil {
		return nil, storeErr(err, "list tags")
	}
	var matched []tagDescriptionXML
	for id, tags := range all {
		k, ok := kindOf(id)
		if !ok {
			continue
		}
		for _, t := range tags {
			d := tagDescriptionXML{ResourceID: id, ResourceType: k.arnType, Key: t.Key, Value: t.Value}
			ok := matchFilters(filters, func(name string) []string {
				switch name {
				case "resource-id":
					return []string{d.ResourceID}
				case "resource-type":
					return []string{d.ResourceType}
				case "key":
					return []string{d.Key}
				case "value":
					return []string{d.Value}
				}
				return nil
			})
			if ok {
				matched = append(matched, d)
			}
		}
	}
	tagID := func(d tagDescriptionXML) string { return d.ResourceID + "\x00" + d.Key }
	sort.Slice(matched, func(i, j int) bool { return tagID(matched[i]) < tagID(matched[j]) })
	pg, next := paginate(matched, tagID, page, c.Action)
	var out describeTagsResult
	out.TagSet.Items = make([]tagDescriptionXML, 0, len(pg))
	out.TagSet.Items = append(out.TagSet.Items, pg...)
	out.NextToken = next
	return out, nil
}
