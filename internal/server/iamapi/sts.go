package iamapi

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
	"github.com/postern/postern/internal/wire/awsproto"
)

// getCallerIdentity is GetCallerIdentity. As in AWS, no permission is
// needed to ask who you are.
func (h *handler) getCallerIdentity(c *api.Call) (any, error) {
	return callerIdentityResult{c.Principal.ARN, c.Principal.PrincipalID, c.Principal.AccountID}, nil
}

// callerIdentityResult is GetCallerIdentity's answer. It writes its own
// XML (awsproto.XMLChildren: the call every client makes first, and often,
// answered without encoding/xml's reflection);
// TestCallerIdentityXMLMatchesEncodingXML holds it to encoding/xml's bytes.
type callerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

// AppendXMLChildren appends the answer's elements.
func (r callerIdentityResult) AppendXMLChildren(b []byte) []byte {
	b = awsproto.AppendXMLElement(b, "Arn", r.Arn)
	b = awsproto.AppendXMLElement(b, "UserId", r.UserID)
	return awsproto.AppendXMLElement(b, "Account", r.Account)
}

// STS's limits on AssumeRole's parameters.
const (
	minSessionSeconds  = 900   // DurationSeconds
	maxSessionSeconds  = 43200 // DurationSeconds, and a role's MaxSessionDuration
	defSessionSeconds  = 3600
	chainedSessionMax  = 3600 // role chaining: a session assuming a role
	noAccountPrincipal = "no-account"
)

var (
	// sessionNameRe is RoleSessionName: 2–64 of [\w+=,.@-].
	sessionNameRe = lazyRegexp(`^[\w+=,.@-]{2,64}$`)
	// externalIDRe is ExternalId's pattern; its length is 2–1224.
	externalIDRe = lazyRegexp(`^[\w+=,.@:/-]+$`)
	// roleARNRe is a role ARN: account, optional path, name.
	roleARNRe = lazyRegexp(`^arn:aws:iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})$`)
)

// unsupportedAssumeRole lists AssumeRole parameters Postern does not
// implement; a request with any of them is refused rather than served
// with weaker semantics than the caller asked for.
var unsupportedAssumeRole = []struct{ param, what string }{
	{"Policy", "session policies (Policy)"},
	{"PolicyArns.member.1.arn", "session policies (PolicyArns)"},
	{"Tags.member.1.Key", "session tags (Tags)"},
	{"TransitiveTagKeys.member.1", "session tags (TransitiveTagKeys)"},
	{"SourceIdentity", "source identity (SourceIdentity)"},
}

// assumeRole is AssumeRole: RoleArn, RoleSessionName, DurationSeconds,
// ExternalId.
//
// The caller may assume the role when nothing denies it explicitly (the
// trust policy or the caller's identity policies) and either the trust
// policy allows the caller by its own ARN (or its role's, for a session,
// or "*"), or it allows the caller's account and the caller's identity
// policies allow sts:AssumeRole on the role: AWS's rule for callers in
// the role's account. The role is read, its trust evaluated and the
// session written in one transaction.
func (h *handler) assumeRole(c *api.Call) (any, error) {
	roleARN, err := required(c.Params, "RoleArn")
	if err != nil {
		return nil, err
	}
	sessionName, err := required(c.Params, "RoleSessionName")
	if err != nil {
		return nil, err
	}
	if !sessionNameRe().MatchString(sessionName) {
		return nil, validation(`1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]* and have length between 2 and 64`, sessionName)
	}
	for _, u := range unsupportedAssumeRole {
		if c.Params.Get(u.param) != "" {
			return nil, validation("Postern does not support %s in AssumeRole; send the request without it.", u.what)
		}
	}
	dur, durSet, err := durationParam(c.Params)
	if err != nil {
		return nil, err
	}
	extra := policy.Context{}
	extra.Set("sts:RoleSessionName", sessionName)
	if ext := c.Params.Get("ExternalId"); ext != "" {
		if len(ext) < 2 || len(ext) > 1224 || !externalIDRe().MatchString(ext) {
			return nil, validation(`1 validation error detected: Value '%s' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@:\/-]* and have length between 2 and 1224`, ext)
		}
		extra.Set("sts:ExternalId", ext)
	}
	mfa, err := h.assumeRoleMFA(c)
	if err != nil {
		return nil, err
	}
	if mfa.serial != "" {
		// A code given with the request counts as MFA for the trust
		// policy and the identity policies, as in AWS.
		extra.Set("aws:MultiFactorAuthPresent", "true")
		extra.Set("aws:MultiFactorAuthAge", "0")
	}
	m := roleARNRe().FindStringSubmatch(roleARN)
	if len(roleARN) < 20 || len(roleARN) > 2048 || m == nil {
		return nil, validation("%s is not a valid role ARN.", roleARN)
	}
	callerARN := c.Principal.ARN
	// The trust policy names users and roles by unique id (bindTrust):
	// the caller is matched by its own (a user's AIDA…) or its role's
	// (a session's AROA…), never by a name a new identity could take.
	callerID := c.Principal.PoliciesID
	if callerID == "" {
		callerID = noAccountPrincipal // matches no user or role
	}
	denied := accessDenied("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", callerARN, roleARN)
	if m[1] != h.cfg.AccountID {
		return nil, denied // no other account exists here
	}
	roleName := m[2]

	// The identity policies first (store reads outside the transaction).
	idDec, err := h.cfg.Authorizer.Authorize(c.Ctx, c.Principal, c.Info, "sts:AssumeRole", roleARN, extra)
	if err != nil {
		return nil, c.AuthorizeError("sts:AssumeRole", err)
	}
	if idDec.Effect == policy.Deny {
		h.logDenied(c, roleARN, idDec)
		return nil, api.DenyError(c.Service.Protocol, callerARN, "sts:AssumeRole", roleARN, idDec)
	}

	ctx := identity.GlobalContext(c.Principal, c.Info, h.cfg.Now())
	for k, v := range extra {
		ctx[k] = v
	}
	akid := awsid.AccessKeyID(awsid.PrefixTempAccessKey)
	secret := awsid.SecretAccessKey()
	token := awsid.SessionToken()
	sealed, err := h.cfg.Sealer.Seal([]byte(secret), []byte(akid))
	if err != nil {
		return nil, fmt.Errorf("iamapi: seal session secret: %w", err)
	}
	var s store.Session
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		role, src, err := h.roleTrust(c, tx, roleName, roleARN, denied)
		if err != nil {
			return err
		}
		req := policy.Request{Action: "sts:AssumeRole", Resource: roleARN, Context: ctx,
			Principal: &policy.Principal{ARN: callerARN, Account: c.Principal.AccountID, ID: callerID}}
		if dec := policy.Evaluate(src, req); !dec.Allowed {
			h.logDenied(c, roleARN, dec)
			return denied
		}
		if !idDec.Allowed {
			// Only the identity's own ARN (or its role's) may stand in
			// for the identity policy's allow: evaluate the trust with
			// the account taken out of the caller's identities.
			req.Principal = &policy.Principal{ARN: callerARN, Account: noAccountPrincipal, ID: callerID}
			if dec := policy.Evaluate(src, req); !dec.Allowed {
				h.logDenied(c, roleARN, idDec)
				return api.DenyError(c.Service.Protocol, callerARN, "sts:AssumeRole", roleARN, idDec)
			}
		}
		if dur, err = h.sessionSeconds(c, role, dur, durSet); err != nil {
			return err
		}
		now := h.now()
		// The new session keeps the caller's MFA authentication (a
		// console session signed in with MFA switching role), or gets it
		// from the code given now.
		mfaOn, authTime := c.Principal.MFAAuthenticated, c.Principal.AuthTime
		if mfa.serial != "" {
			if err := tx.UseMFAStep(c.Ctx, mfa.serial, mfa.step); errors.Is(err, store.ErrConflict) {
				return mfaDenied()
			} else if err != nil {
				return fmt.Errorf("record MFA code: %w", err)
			}
			mfaOn, authTime = true, now
		}
		s = store.Session{AccessKeyID: akid, SecretSealed: sealed, SessionTokenHash: identity.HashToken(token),
			RoleName: role.RoleName, RoleARN: role.ARN, RoleID: role.RoleID, SessionName: sessionName,
			SourceUserARN: callerARN, SourceIP: c.Info.SourceIP,
			Expiration: now.Add(time.Duration(dur) * time.Second), CreateDate: now,
			MFAAuthenticated: mfaOn, AuthTime: authTime}
		return tx.CreateSession(c.Ctx, s)
	})
	if err != nil {
		return nil, wrap(err, "assume role %s", roleARN)
	}
	assumedARN := identity.AssumedRoleARN(h.cfg.AccountID, s.RoleName, sessionName)
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "role assumed", slog.String("role", s.RoleARN),
		slog.String("session", assumedARN), slog.String("access_key_id", akid), slog.String("by", callerARN),
		slog.Time("expiration", s.Expiration))
	return struct {
		AssumedRoleUser xmlAssumedRoleUser `xml:"AssumedRoleUser"`
		Credentials     xmlCredentials     `xml:"Credentials"`
	}{
		xmlAssumedRoleUser{assumedARN, s.RoleID + ":" + sessionName},
		xmlCredentials{akid, secret, token, ts(s.Expiration)},
	}, nil
}

// durationParam reads DurationSeconds (900–43200, default 3600) and
// whether it was given.
func durationParam(p awsproto.Params) (int64, bool, error) {
	v := p.Get("DurationSeconds")
	if v == "" {
		return defSessionSeconds, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	switch {
	case err != nil:
		return 0, true, validation("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must be a number", v)
	case n < minSessionSeconds:
		return 0, true, validation("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to %d", v, minSessionSeconds)
	case n > maxSessionSeconds:
		return 0, true, validation("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to %d", v, maxSessionSeconds)
	}
	return n, true, nil
}

// sessionSeconds checks a requested duration against the role's
// MaxSessionDuration, the role-chaining limit and the server's cap. The
// default duration is lowered to the server's cap rather than refused.
func (h *handler) sessionSeconds(c *api.Call, role store.Role, dur int64, given bool) (int64, error) {
	limit := int64(h.cfg.MaxSessionDuration / time.Second)
	if !given && dur > limit {
		dur = max(limit, minSessionSeconds)
	}
	switch {
	case dur > int64(role.MaxSessionDuration):
		return 0, validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	case c.Principal.Type == identity.TypeAssumedRole && dur > chainedSessionMax:
		return 0, validation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	case dur > limit:
		return 0, validation("The requested DurationSeconds exceeds the maximum session duration of %d seconds set for this server.", limit)
	}
	return dur, nil
}

// roleTrust reads the role roleName in tx and returns it with its trust
// policy as a policy source. A role that does not exist, or is not
// roleARN (another path), is denied: AWS does not reveal whether the role
// exists.
func (h *handler) roleTrust(c *api.Call, tx store.Repo, roleName, roleARN string, denied error) (store.Role, []policy.Source, error) {
	role, err := tx.GetRole(c.Ctx, roleName)
	if errors.Is(err, store.ErrNotFound) || (err == nil && role.ARN != roleARN) {
		return store.Role{}, nil, denied
	}
	if err != nil {
		return store.Role{}, nil, fmt.Errorf("get role %s: %w", roleName, err)
	}
	trust, err := h.cfg.Authorizer.Parse(role.AssumeRolePolicyDocument, policy.ResourcePolicy)
	if err != nil {
		return store.Role{}, nil, fmt.Errorf("trust policy of %s: %w", role.RoleName, err)
	}
	return role, []policy.Source{{Name: role.ARN + ":trust", Doc: trust}}, nil
}

// logDenied logs an AssumeRole denial decided here, as api.Call.Authorize
// logs its own.
func (h *handler) logDenied(c *api.Call, roleARN string, dec policy.Decision) {
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "access denied", slog.String("principal", c.Principal.ARN),
		slog.String("action", "sts:AssumeRole"), slog.String("resource", roleARN), slog.String("decision", dec.String()))
}

// mfaDenied is AWS's answer to a wrong, reused or unusable MFA code in
// AssumeRole.
func mfaDenied() error {
	return accessDenied("MultiFactorAuthentication failed with invalid MFA one time pass code.")
}

// assumeRoleMFA is an MFA code checked for AssumeRole: the caller's device
// and the time step the code matched (consumed when the session is
// written).
type assumeRoleMFA struct {
	serial string
	step   int64
}

// assumeRoleMFA checks SerialNumber and TokenCode: both or neither; the
// device must be one enabled for the calling IAM user and the code one of
// its current codes not used before.
func (h *handler) assumeRoleMFA(c *api.Call) (assumeRoleMFA, error) {
	serial, code := c.Params.Get("SerialNumber"), c.Params.Get("TokenCode")
	if serial == "" && code == "" {
		return assumeRoleMFA{}, nil
	}
	if serial == "" || code == "" {
		return assumeRoleMFA{}, accessDenied("MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.")
	}
	if !serialRe().MatchString(serial) {
		return assumeRoleMFA{}, validation(`1 validation error detected: Value '%s' at 'serialNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=/:,.@-]* and have length between 9 and 256`, serial)
	}
	if !authCodeRe().MatchString(code) {
		return assumeRoleMFA{}, validation(`1 validation error detected: Value at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\d]* and have length 6`)
	}
	if c.Principal.Type != identity.TypeIAMUser {
		return assumeRoleMFA{}, mfaDenied()
	}
	d, err := h.cfg.Store.GetMFADevice(c.Ctx, serial)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.UserID != c.Principal.PrincipalID) {
		return assumeRoleMFA{}, mfaDenied()
	}
	if err != nil {
		return assumeRoleMFA{}, fmt.Errorf("iamapi: MFA device %s: %w", serial, err)
	}
	// Wrong codes are bounded per device: the code is no oracle for
	// whoever holds only the user's access key.
	if h.mfaFails.blocked(serial, h.now()) {
		return assumeRoleMFA{}, mfaDenied()
	}
	_, step, err := h.matchMFA([]store.MFADevice{d}, code, h.cfg.Now())
	if errors.Is(err, ErrMFAInvalid) {
		h.mfaFails.failed(serial, h.now())
		return assumeRoleMFA{}, mfaDenied()
	}
	if err != nil {
		return assumeRoleMFA{}, err
	}
	h.mfaFails.succeeded(serial)
	return assumeRoleMFA{serial: serial, step: step}, nil
}
