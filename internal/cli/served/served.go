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
		"AddClientIDToOpenIDConnectProvider", "AddUserToGroup", "AttachGroupPolicy", "AttachRolePolicy",
		"AttachUserPolicy", "ChangePassword", "CreateAccessKey", "CreateGroup", "CreateLoginProfile",
		"CreateOpenIDConnectProvider", "CreatePolicy", "CreateRole", "CreateUser", "CreateVirtualMFADevice",
		"DeactivateMFADevice", "DeleteAccessKey", "DeleteAccountPasswordPolicy", "DeleteGroup",
		"DeleteGroupPolicy", "DeleteLoginProfile", "DeleteOpenIDConnectProvider", "DeletePolicy", "DeleteRole",
		"DeleteRolePolicy", "DeleteUser", "DeleteUserPolicy", "DeleteVirtualMFADevice", "DetachGroupPolicy",
		"DetachRolePolicy", "DetachUserPolicy", "EnableMFADevice", "GetAccountPasswordPolicy", "GetGroup",
		"GetGroupPolicy", "GetLoginProfile", "GetOpenIDConnectProvider", "GetPolicy", "GetPolicyVersion",
		"GetRole", "GetRolePolicy", "GetUser", "GetUserPolicy", "ListAccessKeys", "ListAttachedGroupPolicies",
		"ListAttachedRolePolicies", "ListAttachedUserPolicies", "ListGroupPolicies", "ListGroups",
		"ListGroupsForUser", "ListMFADevices", "ListOpenIDConnectProviderTags", "ListOpenIDConnectProviders",
		"ListPolicies", "ListRolePolicies", "ListRoles", "ListUserPolicies", "ListUsers", "ListVirtualMFADevices",
		"PutGroupPolicy", "PutRolePolicy", "PutUserPolicy", "RemoveClientIDFromOpenIDConnectProvider",
		"RemoveUserFromGroup", "SimulatePrincipalPolicy", "TagOpenIDConnectProvider", "UntagOpenIDConnectProvider",
		"UpdateAccessKey", "UpdateAccountPasswordPolicy", "UpdateAssumeRolePolicy", "UpdateLoginProfile",
		"UpdateOpenIDConnectProviderThumbprint",
	},
	"sts": {"AssumeRole", "AssumeRoleWithWebIdentity", "GetCallerIdentity"},
	"ec2": {
		"AssociateSubnetCidrBlock", "AssociateVpcCidrBlock",
		"AuthorizeSecurityGroupEgress", "AuthorizeSecurityGroupIngress",
		"CreateEndpointJoinToken", "CreateInstanceConnectEndpoint", "CreateSecurityGroup",
		"CreateSubnet", "CreateTags", "CreateVpc",
		"DeleteInstanceConnectEndpoint", "DeleteSecurityGroup", "DeleteSubnet", "DeleteTags", "DeleteVpc",
		"DeregisterInstance",
		"DescribeAvailabilityZones", "DescribeEndpointAgents", "DescribeInstanceConnectEndpoints",
		"DescribeInstances", "DescribeSecurityGroupRules", "DescribeSecurityGroups", "DescribeSubnets",
		"DescribeTags", "DescribeVpcs",
		"DisassociateSubnetCidrBlock", "DisassociateVpcCidrBlock",
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
