package console_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// TestProxyReturnsNoCredentials: the browser never holds AWS credentials,
// so the API proxy refuses the actions whose answer is one (STS's
// AssumeRole and the rest), even for a person whose policy allows them:
// a script in the page (or an extension) must not get a role session
// that outlives the console session and its sign-out. Switch role, which
// keeps the role session in the sealed cookie, still works.
func TestProxyReturnsNoCredentials(t *testing.T) {
	e := start(t, 100)
	ctx := context.Background()
	loginUser(t, e, "ivy", allowAll)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + e.Server.AccountID + `:user/ivy"},"Action":"sts:AssumeRole"}]}`
	if _, err := iam.NewFromConfig(e.AWS(e.Admin)).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	roleARN := "arn:aws:iam::" + e.Server.AccountID + ":role/ops"
	b := newBrowser(t, e, "127.0.0.7")
	b.signIn("ivy", password, "")

	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	for _, tc := range []struct {
		name, service, body string
		status              int
	}{
		{"AssumeRole", "sts", form("Action", "AssumeRole", "Version", "2011-06-15", "RoleArn", roleARN, "RoleSessionName", "x1"), http.StatusForbidden},
		{"AssumeRoleWithWebIdentity", "sts", form("Action", "AssumeRoleWithWebIdentity", "Version", "2011-06-15", "RoleArn", roleARN,
			"RoleSessionName", "x1", "WebIdentityToken", "a.b.c"), http.StatusForbidden},
		{"GetSessionToken", "sts", form("Action", "GetSessionToken", "Version", "2011-06-15"), http.StatusForbidden},
		{"AssumeRole sent to another service's scope", "iam", form("Action", "AssumeRole", "Version", "2011-06-15", "RoleArn", roleARN, "RoleSessionName", "x1"), http.StatusForbidden},
		{"malformed form", "sts", "Action=AssumeRole;RoleArn=" + roleARN, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := b.call(tc.service, "", tc.body)
			if resp.StatusCode != tc.status || bytes.Contains(body, []byte("SecretAccessKey")) {
				t.Fatalf("%d %s; want %d and no credential", resp.StatusCode, body, tc.status)
			}
		})
	}
	// The console's own switch role is unaffected.
	if resp, body := b.postJSON("/console/api/switch-role", map[string]string{"roleArn": roleARN}, nil); resp.StatusCode != http.StatusOK ||
		strings.Contains(string(body), "SecretAccessKey") {
		t.Fatalf("switch-role: %d %s", resp.StatusCode, body)
	}
	if _, body := b.call("sts", "", "Action=GetCallerIdentity&Version=2011-06-15"); !bytes.Contains(body, []byte("assumed-role/ops/ivy")) {
		t.Fatalf("GetCallerIdentity after switch-role: %s", body)
	}
}
