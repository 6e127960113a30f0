package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/eice"
	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// Instance Connect Endpoints (docs/aws-compat.md §2.2–2.6, §4, §5).

// Endpoint IP address types.
const (
	ipTypeIPv4      = "ipv4"
	ipTypeDualstack = "dualstack"
	ipTypeIPv6      = "ipv6"
)

// Service-linked role that AWS creates on an account's first endpoint;
// creating an endpoint needs iam:CreateServiceLinkedRole until then.
const (
	serviceLinkedRoleService = "ec2-instance-connect.amazonaws.com"
	serviceLinkedRoleName    = "AWSServiceRoleForEc2InstanceConnect"
	// settingServiceLinkedRole records (in the store's settings) that the
	// role "exists": its ARN, written with the first endpoint.
	settingServiceLinkedRole = "ec2_eice_service_linked_role"
)

// maxClientTokenLen is AWS's limit on idempotency tokens.
const maxClientTokenLen = 64

// actionCreateEndpoint names the create action (client tokens are per
// action).
const actionCreateEndpoint = "CreateInstanceConnectEndpoint"

// serviceLinkedRoleARN is the ARN of the EICE service-linked role of the account.
func (s *service) serviceLinkedRoleARN() string {
	return "arn:aws:iam::" + s.cfg.AccountID + ":role/aws-service-role/" + serviceLinkedRoleService + "/" + serviceLinkedRoleName
}

type createEndpointResult struct {
	InstanceConnectEndpoint endpointXML `xml:"instanceConnectEndpoint"`
	ClientToken             string      `xml:"clientToken,omitempty"`
}

// createParams are the canonical parameters of a create, hashed for
// idempotency: the same token with other parameters is a mismatch.
type createParams struct {
	SubnetID         string      `json:"subnetId"`
	SecurityGroupIDs []string    `json:"securityGroupIds"`
	PreserveClientIP *bool       `json:"preserveClientIp,omitempty"`
	IPAddressType    string      `json:"ipAddressType,omitempty"`
	Tags             []store.Tag `json:"tags"`
}

// hash digests the parameters; the order of groups and tags does not matter.
func (cp createParams) hash() string {
	groups := append([]string{}, cp.SecurityGroupIDs...)
	sort.Strings(groups)
	cp.SecurityGroupIDs = groups
	cp.Tags = sortTags(cp.Tags)
	b, _ := json.Marshal(cp) // plain strings, slices and a bool: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// endpointSettings are the parameters that CreateInstanceConnectEndpoint
// and ModifyInstanceConnectEndpoint share.
type endpointSettings struct {
	groupIDs    []string // SecurityGroupId.N
	preserve    bool     // PreserveClientIp
	preserveSet bool     // whether PreserveClientIp was given
	ipType      string   // IpAddressType, "" when absent
}

// parseEndpointSettings reads, in this order, the id of kind k that the
// parameter idParam names (the subnet to create in, the endpoint to
// modify), SecurityGroupId.N, PreserveClientIp and IpAddressType.
func parseEndpointSettings(p awsproto.Params, idParam string, k resourceKind) (string, endpointSettings, error) {
	var set endpointSettings
	id, err := requiredID(p, idParam, k)
	if err != nil {
		return "", set, err
	}
	if set.groupIDs, err = parseGroupIDs(p, "SecurityGroupId"); err != nil {
		return "", set, err
	}
	if set.preserve, set.preserveSet, err = boolParam(p, "PreserveClientIp"); err != nil {
		return "", set, err
	}
	set.ipType, err = parseIPAddressType(p)
	return id, set, err
}

// parseIPAddressType validates an IpAddressType parameter ("" when absent).
func parseIPAddressType(p awsproto.Params) (string, error) {
	v := p.Get("IpAddressType")
	switch v {
	case "", ipTypeIPv4, ipTypeDualstack, ipTypeIPv6:
		return v, nil
	}
	return "", invalidValue(v, "IpAddressType")
}

// resolveIPAddressType applies the default IP address type of a subnet
// (dual-stack subnets give dualstack, IPv4-only ipv4, IPv6-only ipv6; with
// PreserveClientIp the default is ipv4 when the subnet has IPv4) and
// checks the type against the subnet and PreserveClientIp.
func resolveIPAddressType(requested string, sn store.Subnet, preserve bool) (string, error) {
	has4, has6 := sn.CidrBlock != "", sn.Ipv6CidrBlock != ""
	t := requested
	if t == "" {
		switch {
		case preserve && has4:
			t = ipTypeIPv4
		case has4 && has6:
			t = ipTypeDualstack
		case has4:
			t = ipTypeIPv4
		default:
			t = ipTypeIPv6
		}
	}
	if t == ipTypeIPv4 && !has4 || t == ipTypeIPv6 && !has6 || t == ipTypeDualstack && !(has4 && has6) {
		return "", awsproto.InvalidParameterValue("The IP address type '%s' is not supported by subnet '%s'.", t, sn.SubnetID)
	}
	if preserve && t != ipTypeIPv4 {
		return "", errCombination("PreserveClientIp is only supported when IpAddressType is ipv4.")
	}
	return t, nil
}

// subnetContext is the condition context of a check on a subnet: its tags,
// ec2:SubnetID and ec2:Vpc.
func (s *service) subnetContext(sn store.Subnet) policy.Context {
	cx := withResourceTags(policyContext(), sn.Tags)
	cx.Set("ec2:SubnetID", sn.SubnetID)
	if sn.VpcID != "" { // "" for a subnet known by its id alone
		cx.Set("ec2:Vpc", s.arn(kindVpc, sn.VpcID))
	}
	return cx
}

// createEndpointSubnetChecks are the checks of CreateInstanceConnectEndpoint
// on its subnet, the first ones asked: ec2:CreateInstanceConnectEndpoint
// (with the request's tags) and ec2:CreateNetworkInterface.
func (s *service) createEndpointSubnetChecks(sn store.Subnet, tags []store.Tag) []check {
	subnetARN := s.arn(kindSubnet, sn.SubnetID)
	subCtx := s.subnetContext(sn)
	return []check{
		{action: "ec2:CreateInstanceConnectEndpoint", resource: subnetARN, ctx: withRequestTags(merged(subCtx), tags)},
		{action: "ec2:CreateNetworkInterface", resource: subnetARN, ctx: subCtx},
	}
}

// createEndpointChecks are the authorization questions of
// CreateInstanceConnectEndpoint (docs/aws-compat.md §4): ec2:CreateInstanceConnectEndpoint
// and ec2:CreateNetworkInterface on the subnet, ec2:CreateNetworkInterface
// on every security group, ec2:CreateTags on the new endpoint when tagging
// and, until the account has an endpoint, iam:CreateServiceLinkedRole on
// the service-linked role. AWS's own example policy grants ec2:CreateTags
// and iam:CreateServiceLinkedRole on subnet/*, so the subnet also
// satisfies those two.
func (s *service) createEndpointChecks(sn store.Subnet, groups []store.SecurityGroup, endpointARN string, tags []store.Tag, needRole bool) []check {
	subnetARN := s.arn(kindSubnet, sn.SubnetID)
	checks := s.createEndpointSubnetChecks(sn, tags)
	for _, g := range groups {
		checks = append(checks, s.groupCheck("ec2:CreateNetworkInterface", g))
	}
	if len(tags) > 0 {
		tagCtx := withRequestTags(policyContext(), tags)
		tagCtx.Set("ec2:CreateAction", actionCreateEndpoint)
		checks = append(checks, check{action: "ec2:CreateTags", resource: endpointARN, alt: []string{subnetARN}, ctx: tagCtx})
	}
	if needRole {
		roleCtx := policyContext()
		roleCtx.Set("iam:AWSServiceName", serviceLinkedRoleService)
		checks = append(checks, check{action: "iam:CreateServiceLinkedRole", resource: s.serviceLinkedRoleARN(), alt: []string{subnetARN}, ctx: roleCtx})
	}
	return checks
}

// createEndpoint is CreateInstanceConnectEndpoint: SubnetId,
// SecurityGroupId.N (0–16; default the VPC's default group), PreserveClientIp
// (default false), IpAddressType, ClientToken, TagSpecification.N, DryRun.
// The endpoint starts in create-in-progress (endpoints.InitialState); it
// becomes create-complete when its agent joins (endpoints.Endpoints.AgentJoined).
func (s *service) createEndpoint(c *api.Call) (any, error) {
	p := c.Params
	subnetID, set, err := parseEndpointSettings(p, "SubnetId", kindSubnet)
	if err != nil {
		return nil, err
	}
	token := p.Get("ClientToken")
	if len(token) > maxClientTokenLen {
		return nil, awsproto.InvalidParameterValue("The client token must be at most %d characters long.", maxClientTokenLen)
	}
	tags, err := parseTagSpecs(p, kindEndpoint.arnType)
	if err != nil {
		return nil, err
	}
	if _, err := dryRun(c); err != nil {
		return nil, err
	}
	cp := createParams{SubnetID: subnetID, SecurityGroupIDs: set.groupIDs, IPAddressType: set.ipType, Tags: tags}
	if set.preserveSet {
		cp.PreserveClientIP = &set.preserve
	}
	hash := cp.hash()

	// The subnet is authorized before anything about it (its groups, its
	// address types) is told: on the ARN built from its id when it does
	// not exist.
	sn, err := s.getSubnet(c, subnetID)
	if err != nil {
		return nil, s.hideMissing(c, err, subnetID, s.createEndpointSubnetChecks(store.Subnet{SubnetID: subnetID}, tags)...)
	}
	if err := s.authorize(c, s.createEndpointSubnetChecks(sn, tags)...); err != nil {
		return nil, err
	}
	groups, err := s.groupsInVpc(c, set.groupIDs, sn.VpcID, subnetID)
	if err != nil {
		return nil, err
	}
	if set.ipType, err = resolveIPAddressType(set.ipType, sn, set.preserve); err != nil {
		return nil, err
	}

	// An earlier create with the same token answers again, after the
	// caller has been authorized like the first time.
	var replay *store.Endpoint
	if token != "" {
		if replay, err = s.replay(ctx(c), s.st, token, hash); err != nil {
			return nil, err
		}
	}
	id := s.newID(kindEndpoint)
	if replay != nil {
		id = replay.EndpointID
	}
	arn := s.arn(kindEndpoint, id)
	needRole, err := s.needServiceLinkedRole(ctx(c))
	if err != nil {
		return nil, err
	}
	if err := s.authorizeAndDryRun(c, s.createEndpointChecks(sn, groups, arn, tags, needRole && replay == nil)...); err != nil {
		return nil, err
	}
	if replay != nil {
		return createEndpointResult{InstanceConnectEndpoint: endpointToXML(*replay), ClientToken: token}, nil
	}

	now := s.now()
	e := store.Endpoint{
		EndpointID: id, ARN: arn, OwnerID: s.cfg.AccountID, State: endpoints.InitialState(),
		DNSName: s.cfg.DNSName, FipsDNSName: s.cfg.DNSName,
		SubnetID: subnetID, VpcID: sn.VpcID, AvailabilityZone: sn.AvailabilityZone, AvailabilityZoneID: sn.AvailabilityZoneID,
		PreserveClientIP: set.preserve, IPAddressType: set.ipType, SecurityGroupIDs: groupIDs(groups),
		NetworkInterfaceIDs: []string{}, ClientToken: token, CreatedAt: now,
	}
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		if token != "" {
			// A concurrent create with the same token may have won.
			r, err := s.replay(ctx(c), tx, token, hash)
			if err != nil {
				return err
			}
			if r != nil {
				replay = r
				return nil
			}
		}
		if err := s.checkQuota(ctx(c), tx, sn); err != nil {
			return err
		}
		if err := tx.CreateEndpoint(ctx(c), e); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return kindSubnet.errNotFound(subnetID)
			}
			return storeErr(err, "create endpoint %s", id)
		}
		if err := setTags(ctx(c), tx, id, tags); err != nil {
			return err
		}
		if token != "" {
			ct := store.ClientToken{Token: token, Action: actionCreateEndpoint, ParamsHash: hash, ResourceID: id, CreateDate: now}
			if err := tx.PutClientToken(ctx(c), ct); err != nil {
				return storeErr(err, "record client token of %s", id)
			}
		}
		if needRole {
			if err := tx.PutSetting(ctx(c), settingServiceLinkedRole, s.serviceLinkedRoleARN()); err != nil {
				return storeErr(err, "record service-linked role")
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if replay != nil {
		return createEndpointResult{InstanceConnectEndpoint: endpointToXML(*replay), ClientToken: token}, nil
	}
	e.Tags = tags
	c.Logger.LogAttrs(ctx(c), slog.LevelInfo, "instance connect endpoint created",
		slog.String("endpoint", id), slog.String("subnet", subnetID), slog.String("principal", c.Principal.ARN))
	return createEndpointResult{InstanceConnectEndpoint: endpointToXML(e), ClientToken: token}, nil
}

// replay looks a client token up: nil when it is new, the endpoint it
// created when the parameters match, IdempotentParameterMismatch when they
// do not.
func (s *service) replay(ctx context.Context, r store.Repo, token, hash string) (*store.Endpoint, error) {
	ct, err := r.GetClientToken(ctx, actionCreateEndpoint, token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err, "get client token")
	}
	if ct.ParamsHash != hash {
		return nil, badRequest(codeIdempotentMismatch, "The client token '%s' has already been used with different parameters.", token)
	}
	e, err := r.GetEndpoint(ctx, ct.ResourceID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, kindEndpoint.errNotFound(ct.ResourceID)
	}
	if err != nil {
		return nil, storeErr(err, "get endpoint %s", ct.ResourceID)
	}
	return &e, nil
}

// needServiceLinkedRole reports whether the account has not created an
// endpoint yet (so creating one also creates the service-linked role).
func (s *service) needServiceLinkedRole(ctx context.Context) (bool, error) {
	_, err := s.st.GetSetting(ctx, settingServiceLinkedRole)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, storeErr(err, "get setting %s", settingServiceLinkedRole)
	}
	return false, nil
}

// checkQuota enforces the endpoints-per-VPC and per-subnet quotas; deleted
// endpoints do not count.
func (s *service) checkQuota(ctx context.Context, tx store.Repo, sn store.Subnet) error {
	if s.cfg.EndpointsPerVPC < 0 && s.cfg.EndpointsPerSubnet < 0 {
		return nil
	}
	all, err := tx.ListEndpoints(ctx)
	if err != nil {
		return storeErr(err, "list endpoints")
	}
	inVpc, inSubnet := 0, 0
	for _, e := range all {
		if endpoints.Gone(e.State) {
			continue
		}
		if e.VpcID == sn.VpcID {
			inVpc++
		}
		if e.SubnetID == sn.SubnetID {
			inSubnet++
		}
	}
	if s.cfg.EndpointsPerSubnet >= 0 && inSubnet >= s.cfg.EndpointsPerSubnet {
		return badRequest(codeQuota, "You've reached the maximum number of Instance Connect Endpoints for this subnet (%d).", s.cfg.EndpointsPerSubnet)
	}
	if s.cfg.EndpointsPerVPC >= 0 && inVpc >= s.cfg.EndpointsPerVPC {
		return badRequest(codeQuota, "You've reached the maximum number of Instance Connect Endpoints for this VPC (%d).", s.cfg.EndpointsPerVPC)
	}
	return nil
}

type describeEndpointsResult struct {
	InstanceConnectEndpointSet itemSet[endpointXML] `xml:"instanceConnectEndpointSet"`
	NextToken                  string               `xml:"nextToken,omitempty"`
}

var endpointFilters = newFilterSpec(true, "instance-connect-endpoint-id", "state", "subnet-id", "vpc-id")

// describeEndpoints is DescribeInstanceConnectEndpoints:
// InstanceConnectEndpointId.N, Filter.N, MaxResults (1–50), NextToken, DryRun.
// Its describer is built once per service (closures over s, three
// allocations a call otherwise).
func (s *service) describeEndpoints(c *api.Call) (any, error) {
	s.epDescOnce.Do(func() { s.epDesc = s.endpointDescriber() })
	return describe(s, c, s.epDesc)
}

// endpointDescriber is describeEndpoints' describer.
func (s *service) endpointDescriber() describer[store.Endpoint] {
	return describer[store.Endpoint]{
		describeParams: describeParams{idParam: "InstanceConnectEndpointId", kind: kindEndpoint, filters: endpointFilters, minPage: 1, maxPage: 50},
		id:             func(e store.Endpoint) string { return e.EndpointID },
		direct: func(c *api.Call, q describeQuery) (any, bool, error) {
			if len(q.ids) == 0 {
				if pq, ok := pushDown(q.filters); ok {
					out, err := s.describeEndpointsPage(c, pq, q.filters, q.page)
					return out, true, err
				}
			}
			return nil, false, nil
		},
		list: func(c *api.Call, q describeQuery) ([]store.Endpoint, error) {
			if len(q.ids) > 0 {
				return s.getEndpoints(ctx(c), q.ids)
			}
			return s.listEndpoints(ctx(c))
		},
		values: endpointFilterValues,
		render: func(pg []store.Endpoint, next string) any {
			return describeEndpointsResult{InstanceConnectEndpointSet: xmlItems(pg, s.liveEndpointXML), NextToken: next}
		},
	}
}

// pushDown turns filters the store can apply itself (exact vpc-id,
// subnet-id, state and id values) into a query; ok is false when a filter
// needs the full scan (tags, wildcards).
func pushDown(filters []reqFilter) (store.EndpointQuery, bool) {
	var q store.EndpointQuery
	for _, f := range filters {
		for _, v := range f.Values {
			if strings.ContainsAny(v, "*?") {
				return q, false
			}
		}
		switch f.Name {
		case "vpc-id":
			q.VpcIDs = intersect(q.VpcIDs, f.Values)
		case "subnet-id":
			q.SubnetIDs = intersect(q.SubnetIDs, f.Values)
		case "state":
			q.States = intersect(q.States, f.Values)
		case "instance-connect-endpoint-id":
			q.IDs = intersect(q.IDs, f.Values)
		default:
			return q, false
		}
		if len(f.Values) == 0 {
			return q, false
		}
	}
	return q, true
}

// intersect ANDs two value lists of the same filter name; nil means no
// restriction yet. An empty result keeps one impossible value.
func intersect(have, values []string) []string {
	if have == nil {
		return append([]string(nil), values...)
	}
	var out []string
	for _, v := range values {
		if slices.Contains(have, v) {
			out = append(out, v)
		}
	}
	if out == nil {
		out = []string{"\x00none"}
	}
	return out
}

// describeEndpointsPage serves a listing whose filters the store applies:
// it reads one page of rows (plus one, to know whether more follow)
// instead of every endpoint.
func (s *service) describeEndpointsPage(c *api.Call, q store.EndpointQuery, filters []reqFilter, page pageRequest) (any, error) {
	s.maybePurge(ctx(c))
	q.AfterID = page.after
	if page.max > 0 {
		q.Limit = page.max + 1
	}
	rows, err := s.st.ListEndpointsPage(ctx(c), q)
	if err != nil {
		return nil, storeErr(err, "list endpoints")
	}
	next := ""
	if page.max > 0 && len(rows) > page.max {
		rows = rows[:page.max]
		next = encodeToken(c.Action, rows[len(rows)-1].EndpointID)
	}
	cutoff := s.now().Add(-s.cfg.DeletedRetention)
	var out describeEndpointsResult
	out.InstanceConnectEndpointSet.Items = make([]endpointXML, 0, len(rows))
	for _, e := range rows {
		if expired(e, cutoff) || !matchFilters(filters, endpointFilterValues(e)) {
			continue
		}
		out.InstanceConnectEndpointSet.Items = append(out.InstanceConnectEndpointSet.Items, s.liveEndpointXML(e))
	}
	out.NextToken = next
	return out, nil
}

// maybePurge removes deleted endpoints past their retention, at most once
// a minute, for listings that do not scan every endpoint.
func (s *service) maybePurge(ctx context.Context) {
	now := s.now().Unix()
	last := s.purgedAt.Load()
	if now-last < 60 || !s.purgedAt.CompareAndSwap(last, now) {
		return
	}
	_, _ = s.listEndpoints(ctx) // purges as a side effect; errors surface on the next full listing
}

// endpointFilterValues answers the DescribeInstanceConnectEndpoints filters for e.
func endpointFilterValues(e store.Endpoint) func(string) []string {
	return withTagFilters(e.Tags, func(name string) []string {
		switch name {
		case "instance-connect-endpoint-id":
			return []string{e.EndpointID}
		case "state":
			return []string{e.State}
		case "subnet-id":
			return []string{e.SubnetID}
		case "vpc-id":
			return []string{e.VpcID}
		}
		return nil
	})
}

// listEndpoints lists the endpoints after purging those deleted longer
// than DeletedRetention ago. The purge writes only when there is
// something to purge, so listings do not contend for the store's writer.
func (s *service) listEndpoints(ctx context.Context) ([]store.Endpoint, error) {
	all, err := s.st.ListEndpoints(ctx)
	if err != nil {
		return nil, storeErr(err, "list endpoints")
	}
	cutoff := s.now().Add(-s.cfg.DeletedRetention)
	var purge []string
	kept := all[:0:0]
	for _, e := range all {
		if expired(e, cutoff) {
			purge = append(purge, e.EndpointID)
			continue
		}
		kept = append(kept, e)
	}
	if len(purge) == 0 {
		return all, nil
	}
	err = s.st.InTx(ctx, func(tx store.Repo) error {
		for _, id := range purge {
			if err := clearTags(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.PurgeEndpoints(ctx, cutoff); err != nil {
			return storeErr(err, "purge endpoints deleted before %s", cutoff.Format(time.RFC3339))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return kept, nil
}

// getEndpoints reads the endpoints ids (the CLI's lookup by id) without
// listing them all. Unknown ids, and deleted endpoints past their
// retention (not yet purged), are InvalidInstanceConnectEndpointId.NotFound.
func (s *service) getEndpoints(ctx context.Context, ids []string) ([]store.Endpoint, error) {
	cutoff := s.now().Add(-s.cfg.DeletedRetention)
	out := make([]store.Endpoint, 0, len(ids))
	var missing []string
	for _, id := range ids {
		e, err := s.st.GetEndpoint(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			missing = append(missing, id)
		case err != nil:
			return nil, storeErr(err, "get endpoint %s", id)
		case expired(e, cutoff):
			missing = append(missing, id)
		default:
			out = append(out, e)
		}
	}
	if len(missing) > 0 {
		return nil, kindEndpoint.errNotFound(missing...)
	}
	return out, nil
}

// expired reports whether a deleted endpoint has outlived its retention.
func expired(e store.Endpoint, cutoff time.Time) bool {
	return endpoints.Gone(e.State) && !e.DeletedAt.IsZero() && e.DeletedAt.Before(cutoff)
}

// getLiveEndpoint reads an endpoint for Delete/Modify: unknown, purged and
// delete-complete endpoints are InvalidInstanceConnectEndpointId.NotFound,
// as AWS answers a second delete.
func getLiveEndpoint(ctx context.Context, r store.Repo, id string) (store.Endpoint, error) {
	e, err := r.GetEndpoint(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && endpoints.Gone(e.State) {
		return e, kindEndpoint.errNotFound(id)
	}
	if err != nil {
		return e, storeErr(err, "get endpoint %s", id)
	}
	return e, nil
}

type deleteEndpointResult struct {
	InstanceConnectEndpoint endpointXML `xml:"instanceConnectEndpoint"`
}

// endpointCheck is a check on an existing endpoint; the endpoint's subnet
// also satisfies it (AWS's example policy grants delete "in all subnets"
// on subnet/*).
func (s *service) endpointCheck(action string, e store.Endpoint) check {
	cx := withResourceTags(policyContext(), e.Tags)
	cx.Set("ec2:SubnetID", e.SubnetID)
	cx.Set("ec2:Vpc", s.arn(kindVpc, e.VpcID))
	return check{action: action, resource: e.ARN, alt: []string{s.arn(kindSubnet, e.SubnetID)}, ctx: cx}
}

// deleteEndpoint is DeleteInstanceConnectEndpoint: the endpoint goes to
// delete-in-progress (which the answer shows) and, when no agent is
// connected, straight on to delete-complete; otherwise the last agent to
// leave completes it (endpoints.Endpoints.AgentLeft). Deleted endpoints stay listed
// for DeletedRetention.
func (s *service) deleteEndpoint(c *api.Call) (any, error) {
	id, err := requiredID(c.Params, "InstanceConnectEndpointId", kindEndpoint)
	if err != nil {
		return nil, err
	}
	e, err := getLiveEndpoint(ctx(c), s.st, id)
	if err != nil {
		return nil, s.hideMissing(c, err, id, s.endpointIDCheck("ec2:DeleteInstanceConnectEndpoint", id))
	}
	if err := s.authorizeAndDryRun(c, s.endpointCheck("ec2:DeleteInstanceConnectEndpoint", e)); err != nil {
		return nil, err
	}
	var shown store.Endpoint
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		cur, err := getLiveEndpoint(ctx(c), tx, id)
		if err != nil {
			return err
		}
		var changed bool
		shown, changed, err = endpoints.StartDeletion(&cur, s.now())
		if errors.Is(err, endpoints.ErrInvalidTransition) {
			return badRequest(codeIncorrectState, "The instance connect endpoint '%s' is in state %s and cannot be deleted.", id, cur.State)
		}
		if err != nil || !changed {
			return err
		}
		if err := tx.UpdateEndpoint(ctx(c), cur); err != nil {
			return storeErr(err, "update endpoint %s", id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if shown.State == eice.DeleteInProgress {
		// Once the deletion is committed (the call's transaction): the
		// agents' leaving writes the endpoint again.
		store.AfterCommit(ctx(c), func() { s.eps.EndpointDeleting(id) })
	}
	c.Logger.LogAttrs(ctx(c), slog.LevelInfo, "instance connect endpoint deleted",
		slog.String("endpoint", id), slog.Int("agents", len(shown.NetworkInterfaceIDs)), slog.String("principal", c.Principal.ARN))
	return deleteEndpointResult{InstanceConnectEndpoint: endpointToXML(shown)}, nil
}

// modifyEndpoint is ModifyInstanceConnectEndpoint: SecurityGroupId.N
// (replaces the set), PreserveClientIp, IpAddressType, DryRun. The endpoint
// passes through update-in-progress to update-complete (endpoints.Modify);
// Postern applies the new configuration at once.
func (s *service) modifyEndpoint(c *api.Call) (any, error) {
	p := c.Params
	id, set, err := parseEndpointSettings(p, "InstanceConnectEndpointId", kindEndpoint)
	if err != nil {
		return nil, err
	}
	if len(set.groupIDs) == 0 && !set.preserveSet && set.ipType == "" {
		return nil, awsproto.MissingParameter("SecurityGroupId")
	}
	if _, err := dryRun(c); err != nil {
		return nil, err
	}
	e, err := getLiveEndpoint(ctx(c), s.st, id)
	if err != nil {
		return nil, s.hideMissing(c, err, id, s.endpointIDCheck("ec2:ModifyInstanceConnectEndpoint", id))
	}
	// The endpoint first: its subnet and what the groups are checked
	// against are for a caller allowed on it to learn.
	endpointChk := s.endpointCheck("ec2:ModifyInstanceConnectEndpoint", e)
	if err := s.authorize(c, endpointChk); err != nil {
		return nil, err
	}
	sn, err := s.getSubnet(c, e.SubnetID)
	if err != nil {
		return nil, err
	}
	var groups []store.SecurityGroup
	if len(set.groupIDs) > 0 {
		if groups, err = s.groupsInVpc(c, set.groupIDs, e.VpcID, e.SubnetID); err != nil {
			return nil, err
		}
	}
	if !set.preserveSet {
		set.preserve = e.PreserveClientIP
	}
	if set.ipType == "" {
		set.ipType = e.IPAddressType
	}
	if set.ipType, err = resolveIPAddressType(set.ipType, sn, set.preserve); err != nil {
		return nil, err
	}
	checks := []check{endpointChk}
	for _, g := range groups {
		checks = append(checks, s.groupCheck("ec2:CreateNetworkInterface", g))
	}
	if err := s.authorizeAndDryRun(c, checks...); err != nil {
		return nil, err
	}
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		cur, err := getLiveEndpoint(ctx(c), tx, id)
		if err != nil {
			return err
		}
		err = endpoints.Modify(&cur, func(e *store.Endpoint) {
			if len(groups) > 0 {
				e.SecurityGroupIDs = groupIDs(groups)
			}
			e.PreserveClientIP, e.IPAddressType = set.preserve, set.ipType
		})
		if errors.Is(err, endpoints.ErrInvalidTransition) {
			return badRequest(codeIncorrectState, "The instance connect endpoint '%s' is in state %s and cannot be modified.", id, cur.State)
		}
		if err != nil {
			return err
		}
		if err := tx.UpdateEndpoint(ctx(c), cur); err != nil {
			return storeErr(err, "update endpoint %s", id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return returnXML{Return: true}, nil
}

// liveEndpointXML renders an endpoint as DescribeInstanceConnectEndpoints
// shows it: a usable endpoint that preserves client addresses while none
// of its connected agents can gets a state message saying why (AWS's
// StateMessage), since its tunnels are refused until one can.
func (s *service) liveEndpointXML(e store.Endpoint) endpointXML {
	x := endpointToXML(e)
	if !e.PreserveClientIP || x.StateMessage != "" || !eice.Usable(e.State) {
		return x
	}
	agents := s.eps.Connected(e.EndpointID)
	var why []string
	for _, a := range agents {
		if a.PreserveClientIP {
			return x
		}
		if !a.Draining {
			why = append(why, a.AgentID+": "+a.PreserveProblem)
		}
	}
	if len(why) > 0 {
		x.StateMessage = "Client IP preservation is unavailable, so tunnels are refused: no connected agent can connect from clients' addresses (" +
			strings.Join(why, "; ") + ")."
	}
	return x
}
