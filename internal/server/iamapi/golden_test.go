package iamapi

import (
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenXML holds the exact bytes of IAM and STS responses.
func TestGoldenXML(t *testing.T) {
	created := time.Date(2026, 11, 22, 11, 46, 33, 0, time.UTC)
	user := store.User{UserID: "AIDAEXAMPLEUSER000001", UserName: "alice", Path: "/", ARN: "arn:aws:iam::123456789012:user/alice",
		CreateDate: created, Tags: []store.Tag{{Key: "team", Value: "a+b=c"}}}
	role := store.Role{RoleID: "AROAEXAMPLEROLE000001", RoleName: "ops", Path: "/", ARN: "arn:aws:iam::123456789012:role/ops",
		AssumeRolePolicyDocument: `{"Version":"2012-10-17"}`, MaxSessionDuration: 3600, CreateDate: created}
	const reqID = "49c1ecc9-278d-c362-7dbd-ca094d8e3a92"
	tests := []struct {
		name   string
		ns     string
		action string
		result any
		err    *awsproto.Error
	}{
		{"create_user", IAMNamespace, "CreateUser", struct {
			User xmlUser `xml:"User"`
		}{userXML(user)}, nil},
		{"create_role", IAMNamespace, "CreateRole", struct {
			Role xmlRole `xml:"Role"`
		}{roleXML(role)}, nil},
		{"list_users", IAMNamespace, "ListUsers", struct {
			Users []xmlUser `xml:"Users>member"`
			page
		}{Users: []xmlUser{userXML(user)}, page: page{IsTruncated: true, Marker: "1"}}, nil},
		{"delete_user", IAMNamespace, "DeleteUser", nil, nil},
		{"get_caller_identity", STSNamespace, "GetCallerIdentity", struct {
			Arn     string `xml:"Arn"`
			UserID  string `xml:"UserId"`
			Account string `xml:"Account"`
		}{user.ARN, user.UserID, "123456789012"}, nil},
		{"create_login_profile", IAMNamespace, "CreateLoginProfile", struct {
			LoginProfile xmlLoginProfile `xml:"LoginProfile"`
		}{loginProfileXML(store.LoginProfile{UserName: "alice", CreateDate: created, PasswordResetRequired: true})}, nil},
		{"get_account_password_policy", IAMNamespace, "GetAccountPasswordPolicy", struct {
			PasswordPolicy xmlPasswordPolicy `xml:"PasswordPolicy"`
		}{xmlPasswordPolicy{MinimumPasswordLength: 12, RequireSymbols: true, RequireNumbers: true, AllowUsersToChangePassword: true,
			ExpirePasswords: true, MaxPasswordAge: 90, PasswordReusePrevention: 5, HardExpiry: new(bool)}}, nil},
		{"create_virtual_mfa_device", IAMNamespace, "CreateVirtualMFADevice", struct {
			VirtualMFADevice xmlVirtualMFADevice `xml:"VirtualMFADevice"`
		}{xmlVirtualMFADevice{SerialNumber: "arn:aws:iam::123456789012:mfa/alice-phone", Base32StringSeed: "QUJDREVGR0g=", QRCodePNG: "iVBORw0KGgo="}}, nil},
		{"list_virtual_mfa_devices", IAMNamespace, "ListVirtualMFADevices", struct {
			VirtualMFADevices []xmlVirtualMFADevice `xml:"VirtualMFADevices>member"`
			page
		}{VirtualMFADevices: []xmlVirtualMFADevice{{SerialNumber: "arn:aws:iam::123456789012:mfa/alice-phone", User: &xmlUser{
			Path: "/", UserName: "alice", UserID: "AIDAEXAMPLEUSER000001", Arn: "arn:aws:iam::123456789012:user/alice", CreateDate: ts(created)},
			EnableDate: ts(created)}}}, nil},
		{"list_mfa_devices", IAMNamespace, "ListMFADevices", struct {
			MFADevices []xmlMFADevice `xml:"MFADevices>member"`
			page
		}{MFADevices: []xmlMFADevice{{UserName: "alice", SerialNumber: "arn:aws:iam::123456789012:mfa/alice-phone", EnableDate: ts(created)}}}, nil},
		{"error_password_policy", IAMNamespace, "", nil, passwordPolicyViolation([]string{"Password should have at least one symbol"})},
		{"error_access_denied", IAMNamespace, "", nil, awsproto.Errorf(http.StatusForbidden, "AccessDenied",
			"User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:GetUser on resource: arn:aws:iam::123456789012:user/bob because no identity-based policy allows the iam:GetUser action")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if tc.err != nil {
				awsproto.WriteQueryError(rec, tc.ns, reqID, tc.err)
			} else if err := awsproto.WriteQueryResult(rec, tc.ns, tc.action, reqID, tc.result); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".xml")
			if *update {
				if err := os.WriteFile(golden, rec.Body.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if rec.Body.String() != string(want) {
				t.Fatalf("response\n%s\nwant\n%s", rec.Body.String(), want)
			}
			if rec.Header().Get("x-amzn-RequestId") != reqID {
				t.Fatalf("request id header %q", rec.Header().Get("x-amzn-RequestId"))
			}
		})
	}
}
