package oidcop

import (
	"context"
	"net/url"
	"testing"
	"time"
)

// SignInUntil is SignIn for a redirect URI this browser cannot or must
// not follow (a server with its own certificate and cookies, such as the
// console's callback): it fills in the provider's login page as user and
// follows the provider's redirects until one leads to a URL starting with
// stopAt, which it returns unfollowed. It fails the test if the provider
// shows no login page, refuses the sign-in or never redirects there.
func (p *Provider) SignInUntil(t testing.TB, authURL, stopAt string, user User) *url.URL {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := p.newBrowser()
	b.stopAt = stopAt
	defer b.c.CloseIdleConnections()
	final, body, err := b.signIn(ctx, authURL, user)
	if err != nil {
		t.Fatalf("oidcop: sign-in as %s: %v", user.Username, err)
	}
	if final == nil || len(final.String()) < len(stopAt) || final.String()[:len(stopAt)] != stopAt {
		t.Fatalf("oidcop: sign-in as %s ended at %v, not at %s: %.300s", user.Username, final, stopAt, body)
	}
	return final
}
