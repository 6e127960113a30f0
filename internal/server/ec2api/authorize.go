package ec2api

import (
	"errors"
	"strings"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// Authorization. Every action asks the caller's policies about one or more
// (action, resource) pairs, as AWS does for EC2 actions that touch several
// resources: all of them must be allowed. The resources are the ARNs AWS
// documents (arn:aws:ec2:<region>:<account>:<type>/<id>); resources that
// exist carry their tags as aws:ResourceTag/<k> and ec2:ResourceTag/<k>,
// and requests that tag carry aws:RequestTag/<k> and aws:TagKeys.

// check is one authorization question.
type check struct {
	action   string
	resource string
	// alt lists resources that also satisfy the check when the action is
	// allowed on one of them and explicitly denied on none (see
	// authorize). Used for the dependent actions of endpoint management
	// that AWS's own example policy grants on the subnet.
	alt []string
	ctx policy.Context
}

// policyContext returns an empty condition-key context.
func policyContext() policy.Context { return policy.Context{} }

// baseContext returns the condition keys every EC2 action has.
func (s *service) baseContext() policy.Context {
	c := policy.Context{}
	c.Set("ec2:Region", s.cfg.Region)
	c.Set("aws:RequestedRegion", s.cfg.Region)
	return c
}

// checkContext is a check's condition keys: the base keys and its own.
// A check with none of its own (every Describe) gets one base context
// built once and shared: nothing that reads a context writes to it
// (Authorizer.Authorize copies before adding the global keys).
func (s *service) checkContext(own policy.Context) policy.Context {
	if len(own) > 0 {
		return merged(s.baseContext(), own)
	}
	s.baseOnce.Do(func() { s.base = s.baseContext() })
	return s.base
}

// withResourceTags adds the tag keys of an existing resource.
func withResourceTags(c policy.Context, tags []store.Tag) policy.Context {
	for _, t := range tags {
		c.Set("aws:ResourceTag/"+t.Key, t.Value)
		c.Set("ec2:ResourceTag/"+t.Key, t.Value)
	}
	return c
}

// withRequestTags adds the keys of a request that tags a resource.
func withRequestTags(c policy.Context, tags []store.Tag) policy.Context {
	if len(tags) == 0 {
		return c
	}
	keys := make([]string, 0, len(tags))
	for _, t := range tags {
		c.Set("aws:RequestTag/"+t.Key, t.Value)
		keys = append(keys, t.Key)
	}
	c.Set("aws:TagKeys", keys...)
	return c
}

// merged returns a new Context with the keys of all cs, later ones winning.
func merged(cs ...policy.Context) policy.Context {
	out := policy.Context{}
	for _, c := range cs {
		for k, v := range c {
			out[k] = v
		}
	}
	return out
}

// authorize asks every check in order and returns the first denial. A
// check with alternatives passes when its action is allowed on its
// resource; otherwise, when it is not explicitly denied there, the first
// alternative resource on which it is allowed (and not explicitly denied)
// satisfies it. The denial reported is the one on the check's own
// resource.
func (s *service) authorize(c *api.Call, checks ...check) error {
	for _, ch := range checks {
		cx := s.checkContext(ch.ctx)
		err := c.Authorize(ch.action, ch.resource, cx)
		if err == nil {
			continue
		}
		if !asAWS(err) || len(ch.alt) == 0 || explicitDeny(err) {
			return err
		}
		satisfied := false
		for _, alt := range ch.alt {
			altErr := c.Authorize(ch.action, alt, cx)
			if altErr == nil {
				satisfied = true
				break
			}
			if !asAWS(altErr) || explicitDeny(altErr) {
				return altErr
			}
		}
		if !satisfied {
			return err
		}
	}
	return nil
}

// explicitDeny reports whether err is a denial by an explicit Deny (as
// opposed to no Allow), from the decision it carries.
func explicitDeny(err error) bool {
	var d *api.Denial
	return errors.As(err, &d) && d.Explicit()
}

// hideMissing passes on lookupErr, the answer of a lookup of the resource
// with id id. When that answer is the resource's NotFound, the caller must
// first be allowed checks (on the ARN built from the id alone, without
// tags): AWS authorizes before it looks up, so a caller without
// permission is told UnauthorizedOperation whether the resource exists
// or not.
func (s *service) hideMissing(c *api.Call, lookupErr error, id string, checks ...check) error {
	var e *awsproto.Error
	if id == "" || !errors.As(lookupErr, &e) || !strings.HasSuffix(e.Code, ".NotFound") {
		return lookupErr
	}
	if err := s.authorize(c, checks...); err != nil {
		return err
	}
	return lookupErr
}

// endpointIDCheck is the check on an endpoint known by its id alone (one
// that does not exist): its ARN without tags and, as endpointCheck allows
// the endpoint's subnet, every subnet.
func (s *service) endpointIDCheck(action, id string) check {
	return check{action: action, resource: s.arn(kindEndpoint, id), alt: []string{s.arn(kindSubnet, "*")}}
}

// honourDryRun answers DryRunOperation when the request asked for a dry
// run, for an action that authorized the caller itself (before it checked
// the request against the resources it looked up).
func honourDryRun(c *api.Call) error {
	dry, err := dryRun(c)
	if err != nil {
		return err
	}
	if dry {
		return errDryRun()
	}
	return nil
}

// authorizeAndDryRunDescribe authorizes a Describe* action, which AWS
// evaluates on "*" (no resource-level permissions), and honours DryRun.
func (s *service) authorizeAndDryRunDescribe(c *api.Call) error {
	return s.authorizeAndDryRun(c, check{action: s.iamAction(c.Action), resource: "*"})
}

// iamAction is "ec2:" + action, from the table NewEC2 built when it has
// the action (no concatenation per call).
func (s *service) iamAction(action string) string {
	if a, ok := s.iamActions[action]; ok {
		return a
	}
	return "ec2:" + action
}

// authorizeAndDryRun authorizes checks, then answers DryRunOperation when
// the request asked for a dry run.
func (s *service) authorizeAndDryRun(c *api.Call, checks ...check) error {
	dry, err := dryRun(c)
	if err != nil {
		return err
	}
	if err := s.authorize(c, checks...); err != nil {
		return err
	}
	if dry {
		return errDryRun()
	}
	return nil
}
