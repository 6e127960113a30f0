package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestUnsignedOnlyForListedActions: a request with no signature reaches
// an action only when its service lists the action as unsigned (STS
// AssumeRoleWithWebIdentity) and the request carries no trace of a
// signature; everything else is authenticated (and refused) as before.
func TestUnsignedOnlyForListedActions(t *testing.T) {
	e := startEdge(t, edgeOptions{audited: true})
	for _, tc := range []struct {
		name, query, body string
		header            map[string]string
		status            int
		code              string
	}{
		{name: "GetCallerIdentity", body: "Action=GetCallerIdentity&Version=2011-06-15", status: http.StatusForbidden, code: "MissingAuthenticationToken"},
		{name: "CreateUser", body: "Action=CreateUser&UserName=x&Version=2010-05-08", status: http.StatusForbidden, code: "MissingAuthenticationToken"},
		{name: "AssumeRole", body: "Action=AssumeRole&RoleArn=arn:aws:iam::123456789012:role/r&RoleSessionName=s", status: http.StatusForbidden, code: "MissingAuthenticationToken"},
		// Reaches the action: its own validation answers.
		{name: "AssumeRoleWithWebIdentity", body: "Action=AssumeRoleWithWebIdentity&Version=2011-06-15", status: http.StatusBadRequest, code: "ValidationError"},
		{name: "AssumeRoleWithWebIdentity in the query", query: "Action=AssumeRoleWithWebIdentity&RoleArn=arn:aws:iam::123456789012:role/ci&RoleSessionName=s1&WebIdentityToken=abcd.efgh.ijkl",
			status: http.StatusBadRequest, code: "InvalidIdentityToken"},
		// Any trace of a signature: authenticated, so refused.
		{name: "with a presigned credential", query: "X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fsts%2Faws4_request",
			body: "Action=AssumeRoleWithWebIdentity", status: http.StatusForbidden},
		{name: "with X-Amz-Target", body: "Action=AssumeRoleWithWebIdentity", header: map[string]string{"X-Amz-Target": "AWSSecurityTokenServiceV20110615.AssumeRoleWithWebIdentity"},
			status: http.StatusForbidden, code: "MissingAuthenticationToken"},
		{name: "with a bad Authorization", body: "Action=AssumeRoleWithWebIdentity", header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 nonsense"},
			status: http.StatusBadRequest, code: "IncompleteSignature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := e.url + "/"
			if tc.query != "" {
				u += "?" + tc.query
			}
			req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, body := send(t, req)
			if resp.StatusCode != tc.status || (tc.code != "" && !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") &&
				!strings.Contains(string(body), tc.code)) {
				t.Fatalf("status %d, body %s; want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			if tc.code == "" && strings.Contains(string(body), "ValidationError") {
				t.Fatalf("a request with a signature's trace reached the action: %s", body)
			}
		})
	}
}
