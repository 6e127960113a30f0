package iamapi

import (
	"net/url"
	"strings"
	"time"

	"github.com/postern/postern/internal/store"
)

// The XML shapes of IAM and STS results, with the element names and order
// of the IAM and STS API references. Lists are <member> elements.

// ts formats a timestamp as IAM does: RFC 3339 in UTC, whole seconds.
func ts(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// encodeDoc URL-encodes a policy document as IAM returns it: RFC 3986
// percent-encoding, with a space as %20 (clients decode it with a plain
// unquote, which would leave a "+" as is).
func encodeDoc(doc string) string { return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20") }

// xmlTag is a Tag.
type xmlTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// xmlTags converts tags; nil or empty gives no Tags element.
func xmlTags(tags []store.Tag) []xmlTag {
	out := make([]xmlTag, len(tags))
	for i, t := range tags {
		out[i] = xmlTag{t.Key, t.Value}
	}
	return out
}

// xmlUser is a User.
type xmlUser struct {
	Path       string `xml:"Path"`
	UserName   string `xml:"UserName"`
	UserID     string `xml:"UserId"`
	Arn        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
	// PasswordLastUsed is the user's last console sign-in (GetUser only).
	PasswordLastUsed string   `xml:"PasswordLastUsed,omitempty"`
	Tags             []xmlTag `xml:"Tags>member,omitempty"`
}

// userXML converts a user.
func userXML(u store.User) xmlUser {
	return xmlUser{Path: u.Path, UserName: u.UserName, UserID: u.UserID, Arn: u.ARN, CreateDate: ts(u.CreateDate), Tags: xmlTags(u.Tags)}
}

// xmlAccessKey is an AccessKey (with the secret, CreateAccessKey only)
// or an AccessKeyMetadata (without).
type xmlAccessKey struct {
	UserName        string `xml:"UserName"`
	AccessKeyID     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey,omitempty"`
	CreateDate      string `xml:"CreateDate"`
}

// xmlCredentials are STS's Credentials: a role session's keys.
type xmlCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

// xmlAssumedRoleUser is STS's AssumedRoleUser.
type xmlAssumedRoleUser struct {
	Arn           string `xml:"Arn"`
	AssumedRoleID string `xml:"AssumedRoleId"`
}

// xmlGroup is a Group.
type xmlGroup struct {
	Path       string `xml:"Path"`
	GroupName  string `xml:"GroupName"`
	GroupID    string `xml:"GroupId"`
	Arn        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
}

// groupXML converts a group.
func groupXML(g store.Group) xmlGroup {
	return xmlGroup{Path: g.Path, GroupName: g.GroupName, GroupID: g.GroupID, Arn: g.ARN, CreateDate: ts(g.CreateDate)}
}

// xmlPolicy is a Policy (a managed policy).
type xmlPolicy struct {
	PolicyName                    string `xml:"PolicyName"`
	PolicyID                      string `xml:"PolicyId"`
	Arn                           string `xml:"Arn"`
	Path                          string `xml:"Path"`
	DefaultVersionID              string `xml:"DefaultVersionId"`
	AttachmentCount               int32  `xml:"AttachmentCount"`
	PermissionsBoundaryUsageCount int32  `xml:"PermissionsBoundaryUsageCount"`
	IsAttachable                  bool   `xml:"IsAttachable"`
	Description                   string `xml:"Description,omitempty"`
	CreateDate                    string `xml:"CreateDate"`
	UpdateDate                    string `xml:"UpdateDate"`
}

// policyXML converts a managed policy.
func policyXML(p store.ManagedPolicy) xmlPolicy {
	return xmlPolicy{PolicyName: p.PolicyName, PolicyID: p.PolicyID, Arn: p.ARN, Path: p.Path, DefaultVersionID: p.DefaultVersionID,
		AttachmentCount: p.AttachmentCount, IsAttachable: true, Description: p.Description, CreateDate: ts(p.CreateDate), UpdateDate: ts(p.UpdateDate)}
}

// xmlRole is a Role; the trust policy is URL-encoded as IAM sends it.
type xmlRole struct {
	Path                     string   `xml:"Path"`
	RoleName                 string   `xml:"RoleName"`
	RoleID                   string   `xml:"RoleId"`
	Arn                      string   `xml:"Arn"`
	CreateDate               string   `xml:"CreateDate"`
	AssumeRolePolicyDocument string   `xml:"AssumeRolePolicyDocument"`
	Description              string   `xml:"Description,omitempty"`
	MaxSessionDuration       int32    `xml:"MaxSessionDuration"`
	Tags                     []xmlTag `xml:"Tags>member,omitempty"`
}

// roleXML converts a role.
func roleXML(r store.Role) xmlRole {
	return xmlRole{Path: r.Path, RoleName: r.RoleName, RoleID: r.RoleID, Arn: r.ARN, CreateDate: ts(r.CreateDate),
		AssumeRolePolicyDocument: encodeDoc(r.AssumeRolePolicyDocument), Description: r.Description,
		MaxSessionDuration: r.MaxSessionDuration, Tags: xmlTags(r.Tags)}
}

// xmlAttached is an AttachedPolicy.
type xmlAttached struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}
