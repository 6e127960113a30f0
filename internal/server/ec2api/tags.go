package ec2api

import (
	"context"
	"errors"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
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
	get, ok := map[string]func(context.Context, string) ([]store.Tag, error){
		kindVpc.prefix:      tagsOf(s.st.GetVpc, func(v store.Vpc) []store.Tag { return v.Tags }),
		kindSubnet.prefix:   tagsOf(s.st.GetSubnet, func(sn store.Subnet) []store.Tag { return sn.Tags }),
		kindGroup.prefix:    tagsOf(s.st.GetSecurityGroup, func(g store.SecurityGroup) []store.Tag { return g.Tags }),
		kindInstance.prefix: tagsOf(s.st.GetInstance, func(i store.Instance) []store.Tag { return i.Tags }),
		kindEndpoint.prefix: tagsOf(s.st.GetEndpoint, func(e store.Endpoint) []store.Tag { return e.Tags }),
	}[k.prefix]
	if !ok {
		return nil, badRequest(codeInvalidID, "The ID '%s' is not valid", id)
	}
	return getOne(c, k, id, get)
}

// tagsOf turns get, which reads one resource, into a read of its tags.
func tagsOf[T any](get func(context.Context, string) (T, error), tags func(T) []store.Tag) func(context.Context, string) ([]store.Tag, error) {
	return func(ctx context.Context, id string) ([]store.Tag, error) {
		v, err := get(ctx, id)
		return tags(v), err
	}
}

// resourceIDs reads ResourceId.N of CreateTags/DeleteTags: at least one,
// duplicates dropped.
func resourceIDs(p awsproto.Params) ([]string, error) {
	ids := dedupe(scalarList(p, "ResourceId"))
	if len(ids) == 0 {
		return nil, awsproto.MissingParameter("ResourceId")
	}
	return ids, nil
}

// authorizeTagging resolves ids and authorizes action on every resource,
// with the context cx gives for it, before anything about one (whether it
// exists, how many tags it has) is told; then it answers the NotFound of
// the first missing one.
func (s *service) authorizeTagging(c *api.Call, ids []string, action string, cx func(taggedResource) policy.Context) ([]taggedResource, error) {
	resources, err := s.resolveTagged(c, ids)
	if err != nil {
		return nil, err
	}
	checks := make([]check, 0, len(resources))
	for _, r := range resources {
		checks = append(checks, check{action: action, resource: s.arn(r.kind, r.id), ctx: cx(r)})
	}
	if err := s.authorize(c, checks...); err != nil {
		return nil, err
	}
	if err := firstNotFound(resources); err != nil {
		return nil, err
	}
	return resources, nil
}

// createTags is CreateTags: ResourceId.N (VPCs, subnets, security groups,
// instances, endpoints) and Tag.N.Key/Value, which add or overwrite tags.
func (s *service) createTags(c *api.Call) (any, error) {
	p := c.Params
	ids, err := resourceIDs(p)
	if err != nil {
		return nil, err
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
	resources, err := s.authorizeTagging(c, ids, "ec2:CreateTags", func(r taggedResource) policy.Context {
		return withRequestTags(withResourceTags(policyContext(), r.tags), tags)
	})
	if err != nil {
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
	ids, err := resourceIDs(p)
	if err != nil {
		return nil, err
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
	resources, err := s.authorizeTagging(c, ids, "ec2:DeleteTags", func(r taggedResource) policy.Context {
		cx := withResourceTags(policyContext(), r.tags)
		if len(keys) > 0 {
			cx.Set("aws:TagKeys", keys...)
		}
		return cx
	})
	if err != nil {
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
	TagSet    itemSet[tagDescriptionXML] `xml:"tagSet"`
	NextToken string                     `xml:"nextToken,omitempty"`
}

var tagFilters = newFilterSpec(false, "resource-id", "resource-type", "key", "value")

// describeTags is DescribeTags: Filter.N (resource-id, resource-type, key,
// value), MaxResults (5–1000), NextToken. Tags are listed by resource id,
// then key.
func (s *service) describeTags(c *api.Call) (any, error) {
	return describe(s, c, describer[tagDescriptionXML]{
		describeParams: describeParams{filters: tagFilters, minPage: 5, maxPage: 1000},
		id:             func(d tagDescriptionXML) string { return d.ResourceID + "\x00" + d.Key },
		list: func(c *api.Call, _ describeQuery) ([]tagDescriptionXML, error) {
			all, err := s.st.ListTags(ctx(c), nil)
			if err != nil {
				return nil, storeErr(err, "list tags")
			}
			var out []tagDescriptionXML
			for id, tags := range all {
				if k, ok := kindOf(id); ok {
					for _, t := range tags {
						out = append(out, tagDescriptionXML{ResourceID: id, ResourceType: k.arnType, Key: t.Key, Value: t.Value})
					}
				}
			}
			return out, nil
		},
		values: func(d tagDescriptionXML) func(string) []string {
			return func(name string) []string {
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
			}
		},
		render: func(pg []tagDescriptionXML, next string) any {
			return describeTagsResult{TagSet: itemSet[tagDescriptionXML]{Items: append(make([]tagDescriptionXML, 0, len(pg)), pg...)}, NextToken: next}
		},
	})
}
