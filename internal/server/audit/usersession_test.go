package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/identity"
)

// TestUserSessionIdentity: a call made with a user's console session is
// recorded as CloudTrail records console calls: type IAMUser, the ASIA…
// key, and a sessionContext with an empty issuer, the session's creation
// date and whether MFA was used; a long-term key has no sessionContext.
func TestUserSessionIdentity(t *testing.T) {
	issued := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)
	base := identity.Principal{Type: identity.TypeIAMUser, AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:user/alice",
		PrincipalID: "AIDAEXAMPLE", UserName: "alice"}
	key := base
	key.AccessKeyID = "AKIAEXAMPLE"
	session := base
	session.AccessKeyID, session.SessionIssued, session.MFAAuthenticated = "ASIAEXAMPLE", issued, true
	tests := []struct {
		name string
		p    identity.Principal
		want string
	}{
		{"access key", key, `{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","accessKeyId":"AKIAEXAMPLE","userName":"alice"}`},
		{"console session", session, `{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","accessKeyId":"ASIAEXAMPLE","userName":"alice","sessionContext":{"sessionIssuer":{},"attributes":{"creationDate":"2026-12-06T01:02:03Z","mfaAuthenticated":"true"}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(Identity(&tc.p, "123456789012", ""))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != tc.want {
				t.Fatalf("userIdentity\n%s\nwant\n%s", got, tc.want)
			}
			if strings.Contains(string(b), "\"sessionIssuer\":{\"type\":\"\"") {
				t.Fatal("empty issuer fields written")
			}
		})
	}
}
