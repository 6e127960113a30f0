package audit

// FederatedConsoleLoginAttempt is what a ConsoleLogin record tells of
// one console sign-in through an OpenID Connect provider.
type FederatedConsoleLoginAttempt struct {
	// Provider is the IAM OIDC provider's ARN ("" when the console could
	// not get as far as finding it); Audience and Subject the ID token's
	// client id and sub, when a token was verified.
	Provider, Audience, Subject string
	// LoginTo is the page signed in to.
	LoginTo string
	// ErrorCode and ErrorMessage tell why a failure failed (AWS's error
	// from AssumeRoleWithWebIdentity, or the console's own check).
	ErrorCode, ErrorMessage string
}

// FederatedConsoleLogin builds the record of a federated console
// sign-in, in CloudTrail's shape: a success names the role session it
// made (m.Principal: userIdentity type AssumedRole, its sessionContext
// with webIdFederationData); a failure names the web identity
// (WebIdentityUser: the provider, the token's audience and subject, as
// far as they are known).
func FederatedConsoleLogin(m Meta, a FederatedConsoleLoginAttempt) Record {
	success := m.Principal != nil
	r := m.record(EventConsoleLogin, eventTypeConsoleSign)
	r.EventSource = SourceSignin
	result := "Success"
	if !success {
		result = "Failure"
		u := UserIdentity{Type: UserTypeWebIdentity, AccountID: m.AccountID, IdentityProvider: a.Provider}
		if a.Subject != "" {
			u = WebIdentityUser(a.Provider, a.Audience, a.Subject)
			u.AccountID = m.AccountID
		}
		r.UserIdentity = u
		r.ErrorCode, r.ErrorMessage = a.ErrorCode, a.ErrorMessage
		if r.ErrorMessage == "" {
			r.ErrorMessage = FailedAuthentication
		}
	}
	r.ResponseElements = ConsoleLoginResponse{ConsoleLogin: result}
	r.AdditionalEventData = ConsoleLoginData{LoginTo: a.LoginTo, MobileVersion: "No", MFAUsed: "No"}
	return r
}
