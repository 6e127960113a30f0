package console

import "github.com/postern/postern/internal/server/sealer"

// CookieFor is the cookie value the console makes for a console session
// (tests craft cookies for sessions they write to the store themselves).
func CookieFor(s *sealer.Sealer, accessKeyID, token string) (string, error) {
	return sealState(s, cookieState{User: credRef{AccessKeyID: accessKeyID, Token: token}})
}
