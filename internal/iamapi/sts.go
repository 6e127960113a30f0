package iamapi

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/awsid"
	"github.com/postern/postern/internal/awsproto"
	"github.com/postern/postern/internal/identity"
	"github.com/postern/postern/internal/policy"
	"github.com/postern/postern/internal/store"
)

func (h *handler) getCallerIdentity(c *api.Call) (any, error) {
	// As AWS: no permission is needed to ask who you are.
	return struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	}{c.Principal.ARN, c.Principal.PrincipalID, c.Principal.AccountID}, nil
}

var sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func accessDenied(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusForbidden, "AccessDenied", format, args...)
}

func (h *handler) assumeRole(c *api.Call) (any, error) {
	roleARN, err := required(c.Params, "RoleArn")
	if err != nil {
		return nil, err
	}
	session, err := required(c.Params, "RoleSessionName")
	if err != nil {
		return nil, err
	}
	if !sessionNameRe.MatchString(session) {
		return nil, validation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64", session)
	}
	if c.Params.Get("Policy") != "" || c.Params.Count("PolicyArns.member") > 0 {
		return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidParameterValue", "Session policies are not supported by Postern.")
	}
	prefix := "arn:aws:iam::" + h.cfg.AccountID + ":role"
	if !strings.HasPrefix(roleARN, prefix+"/") {
		return nil, validation("RoleArn %s is not a role of account %s.", roleARN, h.cfg.AccountID)
	}
	roleName := roleARN[strings.LastIndexByte(roleARN, '/')+1:]
	denied := accessDenied("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.Principal.ARN, roleARN)
	role, err := h.cfg.Store.GetRole(c.Ctx, roleName)
	if errors.Is(err, store.ErrNotFound) || (err == nil && role.ARN != roleARN) {
		return nil, denied // AWS does not reveal whether the role exists
	}
	if err != nil {
		return nil, err
	}
	dur, err := c.Params.Int("DurationSeconds", 3600, 900, int64(role.MaxSessionDuration))
	if err != nil {
		return nil, validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	if d := time.Duration(dur) * time.Second; d > h.cfg.MaxSessionDuration {
		dur = int64(h.cfg.MaxSessionDuration / time.Second)
	}

	// The trust policy must allow the caller. When it names the caller's
	// own ARN that is enough; when it trusts the whole account, the
	// caller's identity policies must allow sts:AssumeRole too (AWS's
	// same-account rule).
	trust, err := h.cfg.Authorizer.Parse(role.AssumeRolePolicyDocument, policy.ResourcePolicy)
	if err != nil {
		return nil, fmt.Errorf("iamapi: trust policy of %s: %w", role.RoleName, err)
	}
	ctx := identity.GlobalContext(c.Principal, c.Info, h.cfg.Now())
	callerARN := c.Principal.ARN
	req := policy.Request{Action: "sts:AssumeRole", Resource: roleARN, Context: ctx,
		Principal: &policy.Principal{ARN: callerARN, Account: c.Principal.AccountID}}
	dec := policy.Evaluate([]policy.Source{{Name: "trust", Doc: trust}}, req)
	if !dec.Allowed {
		return nil, denied
	}
	if !trust.NamesPrincipal(callerARN) {
		if err := c.Authorize("sts:AssumeRole", roleARN, nil); err != nil {
			return nil, err
		}
	}

	akid := awsid.AccessKeyID(awsid.PrefixTempAccessKey)
	secret := awsid.SecretAccessKey()
	token := awsid.SessionToken()
	sealed, err := h.cfg.Sealer.Seal([]byte(secret), []byte(akid))
	if err != nil {
		return nil, fmt.Errorf("iamapi: seal session secret: %w", err)
	}
	now := h.now()
	exp := now.Add(time.Duration(dur) * time.Second)
	s := store.Session{AccessKeyID: akid, SecretSealed: sealed, SessionTokenHash: identity.HashToken(token), RoleName: role.RoleName,
		RoleARN: role.ARN, RoleID: role.RoleID, SessionName: session, SourceUserARN: callerARN, SourceIP: c.Info.SourceIP,
		Expiration: exp, CreateDate: now}
	if err := h.cfg.Store.CreateSession(c.Ctx, s); err != nil {
		return nil, err
	}
	type creds struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	type user struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	}
	return struct {
		Credentials     creds `xml:"Credentials"`
		AssumedRoleUser user  `xml:"AssumedRoleUser"`
	}{creds{akid, secret, token, ts(exp)}, user{role.RoleID + ":" + session, identity.AssumedRoleARN(h.cfg.AccountID, role.RoleName, session)}}, nil
}
