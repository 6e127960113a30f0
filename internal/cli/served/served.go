// Package served lists the AWS API operations the Postern server answers,
// by the AWS CLI's service command. The CLI offers these operations and no
// others; the list is a plain table so that code building the client side
// (and the help-text generator) need not import the server. A test in
// internal/cli checks it against the server's own handler tables.
package served

import "slices"

// Operations maps each AWS CLI service command to the API actions the
// server serves for it, sorted. Actions that are Postern's own (not in the
// AWS SDK) are listed too: the CLI offers them as hand-written commands.
var Operations = map[string][]string{
	"iam": {
		"AddUserToGroup", "AttachGroupPolicy", "AttachRolePolicy", "AttachUserPolicy",
		"CreateAccessKey", "CreateGroup", "CreatePolicy", "CreateRole", "CreateUser",
		"DeleteAccessKey", "DeleteGroup", "DeleteGroupPolicy", "DeletePolicy", "DeleteRole",
		"DeleteRolePolicy", "DeleteUser", "DeleteUserPolicy",
		"DetachGroupPolicy", "DetachRolePolicy", "DetachUserPolicy",
		"GetGroup", "GetGroupPolicy", "GetPolicy", "GetPolicyVersion", "GetRole", "GetRolePolicy",
		"GetUser", "GetUserPolicy",
		"ListAccessKeys", "ListAttachedGroupPolicies", "ListAttachedRolePolicies", "ListAttachedUserPolicies",
		"ListGroupPolicies", "ListGroups", "ListGroupsForUser", "ListPolicies", "ListRolePolicies",
		"ListRoles", "ListUserPolicies", "ListUsers",
		"PutGroupPolicy", "PutRolePolicy", "PutUserPolicy",
		"RemoveUserFromGroup", "SimulatePrincipalPolicy", "UpdateAccessKey", "UpdateAssumeRolePolicy",
	},
	"sts": {"AssumeRole", "GetCallerIdentity"},
	"ec2": {
		"AuthorizeSecurityGroupEgress", "AuthorizeSecurityGroupIngress",
		"CreateEndpointJoinToken", "CreateInstanceConnectEndpoint", "CreateSecurityGroup",
		"CreateSubnet", "CreateTags", "CreateVpc",
		"DeleteInstanceConnectEndpoint", "DeleteSecurityGroup", "DeleteSubnet", "DeleteTags", "DeleteVpc",
		"DeregisterInstance",
		"DescribeAvailabilityZones", "DescribeEndpointAgents", "DescribeInstanceConnectEndpoints",
		"DescribeInstances", "DescribeSecurityGroupRules", "DescribeSecurityGroups", "DescribeSubnets",
		"DescribeTags", "DescribeVpcs",
		"ModifyInstanceAttribute", "ModifyInstanceConnectEndpoint",
		"RegisterInstance", "RevokeEndpointAgent", "RevokeSecurityGroupEgress", "RevokeSecurityGroupIngress",
	},
	"ec2-instance-connect": {"ListTunnels", "SendSSHPublicKey", "TerminateTunnel"},
	"cloudtrail":           {"LookupEvents"},
}

// Serves says whether the server serves action for the service command.
func Serves(service, action string) bool {
	_, ok := slices.BinarySearch(Operations[service], action)
	return ok
}
