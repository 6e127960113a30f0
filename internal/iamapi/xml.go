package iamapi

import (
	"net/url"
	"time"

	"github.com/postern/postern/internal/store"
)

// The XML shapes of IAM and STS results, with the element names of the
// IAM and STS API references. Lists are <member> elements.

func ts(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// encodeDoc URL-encodes a policy document as IAM returns it.
func encodeDoc(doc string) string { return url.QueryEscape(doc) }

type xmlTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

func xmlTags(tags []store.Tag) []xmlTag {
	out := make([]xmlTag, len(tags))
	for i, t := range tags {
		out[i] = xmlTag{t.Key, t.Value}
	}
	return out
}

type xmlUser struct {
	Path       string   `xml:"Path"`
	UserName   string   `xml:"UserName"`
	UserID     string   `xml:"UserId"`
	Arn        string   `xml:"Arn"`
	CreateDate string   `xml:"CreateDate"`
	Tags       []xmlTag `xml:"Tags>member,omitempty"`
}

func userXML(u store.User) xmlUser {
	return xmlUser{Path: u.Path, UserName: u.UserName, UserID: u.UserID, Arn: u.ARN, CreateDate: ts(u.CreateDate), Tags: xmlTags(u.Tags)}
}

type xmlAccessKey struct {
	UserName        string `xml:"UserName"`
	AccessKeyID     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey,omitempty"`
	CreateDate      string `xml:"CreateDate"`
}

type xmlGroup struct {
	Path       string `xml:"Path"`
	GroupName  string `xml:"GroupName"`
	GroupID    string `xml:"GroupId"`
	Arn        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
}

func groupXML(g store.Group) xmlGroup {
	return xmlGroup{Path: g.Path, GroupName: g.GroupName, GroupID: g.GroupID, Arn: g.ARN, CreateDate: ts(g.CreateDate)}
}

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

func policyXML(p store.ManagedPolicy) xmlPolicy {
	return xmlPolicy{PolicyName: p.PolicyName, PolicyID: p.PolicyID, Arn: p.ARN, Path: p.Path, DefaultVersionID: p.DefaultVersionID,
		AttachmentCount: p.AttachmentCount, IsAttachable: true, Description: p.Description, CreateDate: ts(p.CreateDate), UpdateDate: ts(p.UpdateDate)}
}

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

func roleXML(r store.Role) xmlRole {
	return xmlRole{Path: r.Path, RoleName: r.RoleName, RoleID: r.RoleID, Arn: r.ARN, CreateDate: ts(r.CreateDate),
		AssumeRolePolicyDocument: encodeDoc(r.AssumeRolePolicyDocument), Description: r.Description,
		MaxSessionDuration: r.MaxSessionDuration, Tags: xmlTags(r.Tags)}
}

type xmlAttached struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

// page carries IAM's truncation markers.
type page struct {
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}
