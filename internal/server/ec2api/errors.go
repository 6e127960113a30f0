package ec2api

import (
	"net/http"
	"strings"

	"github.com/postern/postern/internal/wire/awsid"
	"github.com/postern/postern/internal/wire/awsproto"
)

// The AWS error codes of this edge. Codes whose HTTP status AWS does not
// document use 400 (client error), except the ones noted.
const (
	codeDryRun               = "DryRunOperation" // 412, as SDKs and the CLI expect it
	codeParamCombination     = "InvalidParameterCombination"
	codeIdempotentMismatch   = "IdempotentParameterMismatch"
	codePaginationToken      = "InvalidPaginationToken"
	codeDependencyViolation  = "DependencyViolation"
	codeQuota                = "ResourceLimitExceeded" // AWS's code for the EICE quota is unconfirmed
	codeIncorrectState       = "IncorrectState"
	codeInvalidID            = "InvalidID"
	codeCannotDelete         = "CannotDelete"
	codeNoDefaultVPC         = "VPCIdNotSpecified"
	codeInvalidParameter     = "InvalidParameter"
	codePermissionDuplicate  = "InvalidPermission.Duplicate"
	codePermissionNotFound   = "InvalidPermission.NotFound"
	codePermissionMalformed  = "InvalidPermission.Malformed"
	codeGroupDuplicate       = "InvalidGroup.Duplicate"
	codeGroupNotFound        = "InvalidGroup.NotFound"
	codeAddressInUse         = "InvalidIPAddress.InUse"
	codeVpcRange             = "InvalidVpc.Range"
	codeSubnetRange          = "InvalidSubnet.Range"
	codeSubnetConflict       = "InvalidSubnet.Conflict"
	codeRuleIDNotFound       = "InvalidSecurityGroupRuleId.NotFound"
	codeRuleIDMalformed      = "InvalidSecurityGroupRuleId.Malformed"
	codeEndpointIDMalformed  = "InvalidInstanceConnectEndpointId.Malformed"
	codeEndpointIDNotFound   = "InvalidInstanceConnectEndpointId.NotFound"
	codeInstanceIDMalformed  = "InvalidInstanceID.Malformed"
	codeInstanceIDNotFound   = "InvalidInstanceID.NotFound"
	codeSubnetIDMalformed    = "InvalidSubnetID.Malformed"
	codeSubnetIDNotFound     = "InvalidSubnetID.NotFound"
	codeVpcIDMalformed       = "InvalidVpcID.Malformed"
	codeVpcIDNotFound        = "InvalidVpcID.NotFound"
	codeGroupIDMalformed     = "InvalidGroupId.Malformed"
	codeUnsupportedOperation = "UnsupportedOperation"
)

// badRequest is an AWS client error (HTTP 400) with code.
func badRequest(code, format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, code, format, args...)
}

// errDryRun is the answer to an authorized request with DryRun=true.
func errDryRun() *awsproto.Error {
	return awsproto.Errorf(http.StatusPreconditionFailed, codeDryRun, "Request would have succeeded, but DryRun flag is set.")
}

// errCombination is InvalidParameterCombination.
func errCombination(format string, args ...any) *awsproto.Error {
	return badRequest(codeParamCombination, format, args...)
}

// resourceKind describes one EC2 resource type: its id prefix, the
// resource type in ARNs and tag descriptions, and its error codes.
type resourceKind struct {
	prefix       string // id prefix without the dash: "vpc"
	arnType      string // "vpc", "security-group", …
	noun         string // as AWS's messages name it
	notFound     string // code for an unknown id
	malformed    string // code for a malformed id
	strictHex    bool   // ids are 8 or 17 lowercase hex digits
	bareNoun     bool   // NotFound messages say "the security group 'x'", without "ID"
	malformedMsg func(id string) string
}

var (
	kindVpc = resourceKind{prefix: awsid.PrefixVpc, arnType: "vpc", noun: "vpc", notFound: codeVpcIDNotFound, malformed: codeVpcIDMalformed, strictHex: true}
	// Subnet, security group and instance ids are strict too.
	kindSubnet   = resourceKind{prefix: awsid.PrefixSubnet, arnType: "subnet", noun: "subnet", notFound: codeSubnetIDNotFound, malformed: codeSubnetIDMalformed, strictHex: true}
	kindGroup    = resourceKind{prefix: awsid.PrefixSecurityGroup, arnType: "security-group", noun: "security group", notFound: codeGroupNotFound, malformed: codeGroupIDMalformed, strictHex: true, bareNoun: true}
	kindInstance = resourceKind{prefix: awsid.PrefixInstance, arnType: "instance", noun: "instance", notFound: codeInstanceIDNotFound, malformed: codeInstanceIDMalformed, strictHex: true}
	kindRule     = resourceKind{prefix: awsid.PrefixSecurityGroupRule, arnType: "security-group-rule", noun: "security group rule", notFound: codeRuleIDNotFound, malformed: codeRuleIDMalformed, strictHex: true}
	kindEndpoint = resourceKind{
		prefix: awsid.PrefixEndpoint, arnType: "instance-connect-endpoint", noun: "instance connect endpoint",
		notFound: codeEndpointIDNotFound, malformed: codeEndpointIDMalformed,
		malformedMsg: func(id string) string {
			return "The instance connect endpoint ID '" + id + "' is malformed. Ensure that you specify the ID in the form eice-xxxxxxxxxxxxxxxxx"
		},
	}
)

// taggableKinds are the resources CreateTags and DeleteTags accept.
var taggableKinds = []resourceKind{kindVpc, kindSubnet, kindGroup, kindInstance, kindEndpoint}

// kindOf returns the resource kind of an id by its prefix.
func kindOf(id string) (resourceKind, bool) {
	prefix, _, ok := strings.Cut(id, "-")
	if !ok {
		return resourceKind{}, false
	}
	for _, k := range taggableKinds {
		if k.prefix == prefix {
			return k, true
		}
	}
	return resourceKind{}, false
}

// wellFormed reports whether id has the kind's shape: the prefix, a dash
// and 8 or 17 lowercase hex digits for the classic EC2 ids; letters and
// digits for endpoint ids (AWS's own shape is 17 hex digits).
func (k resourceKind) wellFormed(id string) bool {
	rest, ok := strings.CutPrefix(id, k.prefix+"-")
	if !ok || rest == "" {
		return false
	}
	if k.strictHex {
		if len(rest) != 8 && len(rest) != 17 {
			return false
		}
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
		return true
	}
	if len(rest) > 64 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// errMalformed is the kind's Malformed error for id.
func (k resourceKind) errMalformed(id string) *awsproto.Error {
	if k.malformedMsg != nil {
		return badRequest(k.malformed, "%s", k.malformedMsg(id))
	}
	return badRequest(k.malformed, "Invalid id: \"%s\" (expecting \"%s-...\")", id, k.prefix)
}

// errNotFound is the kind's NotFound error for one or more ids.
func (k resourceKind) errNotFound(ids ...string) *awsproto.Error {
	id, ids2 := " ID", " IDs"
	if k.bareNoun {
		id, ids2 = "", "s"
	}
	if len(ids) == 1 {
		return badRequest(k.notFound, "The %s%s '%s' does not exist", k.noun, id, ids[0])
	}
	return badRequest(k.notFound, "The %s%s '%s' do not exist", k.noun, ids2, strings.Join(ids, ", "))
}

// check validates the shape of id.
func (k resourceKind) check(id string) error {
	if !k.wellFormed(id) {
		return k.errMalformed(id)
	}
	return nil
}

// checkAll validates the shape of every id.
func (k resourceKind) checkAll(ids []string) error {
	for _, id := range ids {
		if err := k.check(id); err != nil {
			return err
		}
	}
	return nil
}

// requiredID reads a required id parameter and checks its shape.
func requiredID(p awsproto.Params, name string, k resourceKind) (string, error) {
	id, err := p.Required(name)
	if err != nil {
		return "", err
	}
	if err := k.check(id); err != nil {
		return "", err
	}
	return id, nil
}
