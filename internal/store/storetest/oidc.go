package storetest

import (
	"reflect"
	"testing"

	"github.com/postern/postern/internal/store"
)

// testOIDCProviders: providers are created once per ARN, read back as
// written (lists and tags in order, times in UTC), listed by ARN, updated
// in place and deleted; a missing provider is ErrNotFound everywhere.
func testOIDCProviders(t *testing.T, s store.Store) {
	ctx := t.Context()
	arnB := "arn:aws:iam::" + account + ":oidc-provider/token.example.com/b"
	arnA := "arn:aws:iam::" + account + ":oidc-provider/login.example.com"
	b := store.OIDCProvider{ARN: arnB, URL: "token.example.com/b", ClientIDs: []string{"sts.amazonaws.com", "z", "a"},
		Thumbprints: []string{"9e99a48a9960b14926bb7f3b02e22da2b0ab7280"},
		Tags:        []store.Tag{{Key: "team", Value: "ci"}, {Key: "a", Value: ""}}, CreateDate: at(1)}
	a := store.OIDCProvider{ARN: arnA, URL: "login.example.com", ClientIDs: []string{"postern"}, CreateDate: at(2)}
	ok(t, s.CreateOIDCProvider(ctx, b), "CreateOIDCProvider b")
	ok(t, s.CreateOIDCProvider(ctx, a), "CreateOIDCProvider a")
	is(t, s.CreateOIDCProvider(ctx, a), store.ErrConflict, "CreateOIDCProvider again")

	same := func(got, want store.OIDCProvider) {
		t.Helper()
		sameTime(t, got.CreateDate, want.CreateDate, "provider CreateDate")
		got.CreateDate = want.CreateDate
		if !reflect.DeepEqual(got, want) {
			t.Errorf("provider = %+v, want %+v", got, want)
		}
	}
	got, err := s.GetOIDCProvider(ctx, arnB)
	ok(t, err, "GetOIDCProvider")
	same(got, b)
	list, err := s.ListOIDCProviders(ctx)
	ok(t, err, "ListOIDCProviders")
	if len(list) != 2 || list[0].ARN != arnA || list[1].ARN != arnB {
		t.Fatalf("ListOIDCProviders = %+v, want %s then %s", list, arnA, arnB)
	}
	same(list[0], a)

	b.ClientIDs, b.Thumbprints, b.Tags = []string{"a"}, nil, nil
	ok(t, s.UpdateOIDCProvider(ctx, b), "UpdateOIDCProvider")
	got, err = s.GetOIDCProvider(ctx, arnB)
	ok(t, err, "GetOIDCProvider after update")
	same(got, b)
	missing := store.OIDCProvider{ARN: arnB + "x", ClientIDs: []string{"a"}}
	is(t, s.UpdateOIDCProvider(ctx, missing), store.ErrNotFound, "UpdateOIDCProvider missing")

	ok(t, s.DeleteOIDCProvider(ctx, arnB), "DeleteOIDCProvider")
	is(t, s.DeleteOIDCProvider(ctx, arnB), store.ErrNotFound, "DeleteOIDCProvider again")
	_, err = s.GetOIDCProvider(ctx, arnB)
	is(t, err, store.ErrNotFound, "GetOIDCProvider deleted")
	list, err = s.ListOIDCProviders(ctx)
	ok(t, err, "ListOIDCProviders after delete")
	if len(list) != 1 || list[0].ARN != arnA {
		t.Errorf("ListOIDCProviders after delete = %+v", list)
	}
}

// testWebIdentitySessions: a role session keeps the web identity it was
// issued to (provider, subject, audience, source identity, tags in
// order); other sessions have none.
func testWebIdentitySessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	fed := sessionRec("ci", at(60))
	fed.SourceUserARN = ""
	fed.Federation = store.WebIdentity{
		Provider: "arn:aws:iam::" + account + ":oidc-provider/token.example.com", Subject: "repo:org/app:ref:refs/heads/main",
		Audience: "sts.amazonaws.com", SourceIdentity: "alice",
		Tags: []store.Tag{{Key: "username", Value: "alice"}, {Key: "Team", Value: "ops"}},
	}
	ok(t, s.CreateSession(ctx, fed), "CreateSession federated")
	got, err := s.GetSession(ctx, fed.AccessKeyID)
	ok(t, err, "GetSession federated")
	sameSession(t, got, fed)

	plain := sessionRec("ci", at(60))
	ok(t, s.CreateSession(ctx, plain), "CreateSession")
	got, err = s.GetSession(ctx, plain.AccessKeyID)
	ok(t, err, "GetSession")
	if !reflect.DeepEqual(got.Federation, store.WebIdentity{}) {
		t.Errorf("plain session Federation = %+v, want none", got.Federation)
	}
}
