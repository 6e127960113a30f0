package audit

import (
	"testing"

	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/store"
)

const oidcProvider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"

// webRole is a role session issued by AssumeRoleWithWebIdentity.
func webRole() *identity.Principal {
	p := role()
	p.ARN, p.PrincipalID, p.SessionName = "arn:aws:sts::123456789012:assumed-role/ops/build-42", "AROAEXAMPLEEXAMPLE01:build-42", "build-42"
	p.WebIdentity = &store.WebIdentity{Provider: oidcProvider, Subject: "repo:example/app:ref:refs/heads/main",
		Audience: "sts.amazonaws.com", SourceIdentity: "alice", Tags: []store.Tag{{Key: "username", Value: "alice"}}}
	return p
}

// TestGoldenWebIdentity: the records of a federated identity, in
// CloudTrail's shapes: a call or tunnel of a session issued by
// AssumeRoleWithWebIdentity is an AssumedRole with its sessionContext's
// webIdFederationData (the provider, the token's aud and sub) and
// sourceIdentity; the AssumeRoleWithWebIdentity call itself is a
// WebIdentityUser named by the provider, audience and subject.
func TestGoldenWebIdentity(t *testing.T) {
	golden(t, "open_tunnel_web_identity", OpenTunnel(meta(webRole(), "11111111-2222-3333-4444-55555555555c"), params, eiceARN,
		OpenTunnelData{TunnelID: "tnl-0123456789abcdef0", AgentID: "eni-0123456789abcdef0"}, "", ""))
	m := meta(nil, "11111111-2222-3333-4444-55555555555d")
	m.UserAgent = "aws-sdk-go-v2/1.41.0 os/linux lang/go#1.25 md/GOOS#linux md/GOARCH#amd64 api/sts#1.41.0 m/E"
	r := APICall(m, "sts.amazonaws.com", "AssumeRoleWithWebIdentity", false,
		map[string]any{"RoleArn": "arn:aws:iam::123456789012:role/ops", "RoleSessionName": "build-42", "WebIdentityToken": "HIDDEN_DUE_TO_SECURITY_REASONS"},
		nil, "AWS::IAM::Role", "arn:aws:iam::123456789012:role/ops", "", "")
	r.UserIdentity = WebIdentityUser(oidcProvider, "sts.amazonaws.com", "repo:example/app:ref:refs/heads/main")
	golden(t, "assume_role_with_web_identity", r)
	ev, err := Event(r, "", "ops")
	if err != nil || ev.Username != "repo:example/app:ref:refs/heads/main" {
		t.Errorf("Event: username %q, %v; want the subject", ev.Username, err)
	}
}
