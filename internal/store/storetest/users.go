package storetest

import (
	"bytes"
	"testing"

	"github.com/postern/postern/internal/store"
)

func testUsersCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	tags := []store.Tag{{Key: "team", Value: "infra"}, {Key: "CostCenter", Value: "42"}, {Key: "a", Value: ""}}
	alice := mustCreateUser(t, ctx, s, userRec("alice", "/eng/", tags...))
	bob := mustCreateUser(t, ctx, s, userRec("bob", "/"))

	got, err := s.GetUser(ctx, "alice")
	ok(t, err, "GetUser")
	sameUser(t, got, alice)

	got, err = s.GetUserByID(ctx, alice.UserID)
	ok(t, err, "GetUserByID")
	sameUser(t, got, alice)

	got, err = s.GetUser(ctx, "bob")
	ok(t, err, "GetUser bob")
	sameUser(t, got, bob)

	_, err = s.GetUser(ctx, "carol")
	is(t, err, store.ErrNotFound, "GetUser missing")
	wrapped(t, err, "GetUser missing")
	_, err = s.GetUserByID(ctx, "AIDANOSUCHUSER000000")
	is(t, err, store.ErrNotFound, "GetUserByID missing")

	// The same id under another name is a conflict too.
	dup := userRec("alice2", "/")
	dup.UserID = alice.UserID
	is(t, s.CreateUser(ctx, dup), store.ErrConflict, "CreateUser with an existing id")

	ok(t, s.DeleteUser(ctx, "alice"), "DeleteUser")
	_, err = s.GetUser(ctx, "alice")
	is(t, err, store.ErrNotFound, "GetUser after delete")
	_, err = s.GetUserByID(ctx, alice.UserID)
	is(t, err, store.ErrNotFound, "GetUserByID after delete")
	err = s.DeleteUser(ctx, "alice")
	is(t, err, store.ErrNotFound, "DeleteUser twice")
	wrapped(t, err, "DeleteUser twice")

	// The name is free again, and the old tags are gone with the old user.
	again := mustCreateUser(t, ctx, s, userRec("Alice", "/", store.Tag{Key: "new", Value: "1"}))
	got, err = s.GetUser(ctx, "alice")
	ok(t, err, "GetUser re-created")
	sameUser(t, got, again)

	us, err := s.ListUsers(ctx, "/")
	ok(t, err, "ListUsers")
	sameNames(t, names(us, userName), []string{"Alice", "bob"}, "ListUsers")
	for _, u := range us {
		if u.UserName == "Alice" {
			sameUser(t, u, again)
		}
	}
}

func testUsersCaseInsensitive(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, userRec("DevOps-Admin", "/"))
	for _, name := range []string{"DevOps-Admin", "devops-admin", "DEVOPS-ADMIN"} {
		err := s.CreateUser(ctx, userRec(name, "/other/"))
		is(t, err, store.ErrConflict, "CreateUser "+name)
		wrapped(t, err, "CreateUser conflict")
	}
	for _, name := range []string{"devops-admin", "DEVOPS-ADMIN", "DevOps-Admin"} {
		u, err := s.GetUser(ctx, name)
		ok(t, err, "GetUser "+name)
		if u.UserName != "DevOps-Admin" {
			t.Errorf("GetUser(%q).UserName = %q, want the name as created", name, u.UserName)
		}
	}
	us, err := s.ListUsers(ctx, "")
	ok(t, err, "ListUsers")
	if len(us) != 1 {
		t.Errorf("ListUsers returned %d users after conflicting creates, want 1", len(us))
	}
	ok(t, s.DeleteUser(ctx, "DEVOPS-admin"), "DeleteUser with another case")
}

func testUsersList(t *testing.T, s store.Store) {
	ctx := t.Context()
	us, err := s.ListUsers(ctx, "/")
	ok(t, err, "ListUsers on an empty store")
	if len(us) != 0 {
		t.Fatalf("ListUsers on an empty store = %d users", len(us))
	}
	for _, u := range []store.User{
		userRec("carol", "/eng/backend/"),
		userRec("Bob", "/eng/"),
		userRec("alice", "/"),
		userRec("dave", "/engineering/"),
		userRec("erin", "/Eng/"),
		userRec("frank", "/a_b/"),
		userRec("grace", "/axb/"),
		userRec("heidi", "/100%/"),
		userRec("ivan", "/1000/"),
	} {
		mustCreateUser(t, ctx, s, u)
	}
	all := []string{"alice", "Bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"/", all},
		{"/eng/", []string{"Bob", "carol"}},
		{"/eng", []string{"Bob", "carol", "dave"}},
		{"/eng/backend/", []string{"carol"}},
		{"/Eng/", []string{"erin"}},
		{"/a_b/", []string{"frank"}},
		{"/a", []string{"frank", "grace"}},
		{"/100%/", []string{"heidi"}},
		{"/nope/", nil},
	} {
		us, err := s.ListUsers(ctx, tc.prefix)
		ok(t, err, "ListUsers "+tc.prefix)
		sameNames(t, names(us, userName), tc.want, "ListUsers("+tc.prefix+")")
	}
}

func testUsersDeleteInUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, userRec("alice", "/"))
	mustCreateGroup(t, ctx, s, groupRec("devs", "/"))
	p := mustCreatePolicy(t, ctx, s, policyRec("Tunnel", "/"))

	type dependent struct {
		name   string
		add    func() error
		remove func() error
	}
	key := keyRec("alice", at(0))
	for _, d := range []dependent{
		{"access key",
			func() error { return s.CreateAccessKey(ctx, key) },
			func() error { return s.DeleteAccessKey(ctx, key.AccessKeyID) }},
		{"inline policy",
			func() error {
				return s.PutInlinePolicy(ctx, store.InlinePolicy{Owner: userRef("alice"), PolicyName: "p", Document: "{}"})
			},
			func() error { return s.DeleteInlinePolicy(ctx, userRef("alice"), "p") }},
		{"attached policy",
			func() error { return s.AttachPolicy(ctx, userRef("alice"), p.ARN) },
			func() error { return s.DetachPolicy(ctx, userRef("alice"), p.ARN) }},
		{"group membership",
			func() error { return s.AddUserToGroup(ctx, "devs", "alice") },
			func() error { return s.RemoveUserFromGroup(ctx, "devs", "alice") }},
	} {
		ok(t, d.add(), "add "+d.name)
		err := s.DeleteUser(ctx, "alice")
		is(t, err, store.ErrInUse, "DeleteUser with an "+d.name)
		wrapped(t, err, "DeleteUser in use")
		if _, err := s.GetUser(ctx, "alice"); err != nil {
			t.Fatalf("user gone after a refused delete (%s): %v", d.name, err)
		}
		ok(t, d.remove(), "remove "+d.name)
	}
	ok(t, s.DeleteUser(ctx, "alice"), "DeleteUser without dependents")
}

func testAccessKeysCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.CreateAccessKey(ctx, keyRec("nobody", at(0)))
	is(t, err, store.ErrNotFound, "CreateAccessKey for a missing user")
	wrapped(t, err, "CreateAccessKey")

	alice := mustCreateUser(t, ctx, s, userRec("Alice", "/"))
	mustCreateUser(t, ctx, s, userRec("bob", "/"))
	k := keyRec("ALICE", at(5)) // another case than the user's
	ok(t, s.CreateAccessKey(ctx, k), "CreateAccessKey")

	dup := keyRec("bob", at(6))
	dup.AccessKeyID = k.AccessKeyID
	is(t, s.CreateAccessKey(ctx, dup), store.ErrConflict, "CreateAccessKey with an existing id")

	got, err := s.GetAccessKey(ctx, k.AccessKeyID)
	ok(t, err, "GetAccessKey")
	if got.AccessKeyID != k.AccessKeyID || got.UserName != "Alice" || got.UserID != alice.UserID || got.Status != store.KeyActive ||
		!bytes.Equal(got.SecretSealed, k.SecretSealed) {
		t.Errorf("GetAccessKey = %+v, want %+v with UserName %q and UserID %q", got, k, "Alice", alice.UserID)
	}
	sameTime(t, got.CreateDate, k.CreateDate, "access key CreateDate")

	_, err = s.GetAccessKey(ctx, "AKIANOSUCHKEY0000000")
	is(t, err, store.ErrNotFound, "GetAccessKey missing")

	ok(t, s.UpdateAccessKeyStatus(ctx, k.AccessKeyID, store.KeyInactive), "UpdateAccessKeyStatus")
	got, err = s.GetAccessKey(ctx, k.AccessKeyID)
	ok(t, err, "GetAccessKey")
	if got.Status != store.KeyInactive {
		t.Errorf("status = %q after update, want Inactive", got.Status)
	}
	ok(t, s.UpdateAccessKeyStatus(ctx, k.AccessKeyID, store.KeyActive), "UpdateAccessKeyStatus back")
	is(t, s.UpdateAccessKeyStatus(ctx, "AKIANOSUCHKEY0000000", store.KeyInactive), store.ErrNotFound,
		"UpdateAccessKeyStatus missing")

	ks, err := s.ListAccessKeys(ctx, "bob")
	ok(t, err, "ListAccessKeys of a user without keys")
	if len(ks) != 0 {
		t.Errorf("ListAccessKeys(bob) = %d keys, want 0", len(ks))
	}
	_, err = s.ListAccessKeys(ctx, "nobody")
	is(t, err, store.ErrNotFound, "ListAccessKeys of a missing user")

	ks, err = s.ListAccessKeys(ctx, "alice")
	ok(t, err, "ListAccessKeys")
	if len(ks) != 1 || ks[0].AccessKeyID != k.AccessKeyID || ks[0].UserName != "Alice" || ks[0].UserID != alice.UserID {
		t.Errorf("ListAccessKeys(alice) = %+v", ks)
	}

	ok(t, s.DeleteAccessKey(ctx, k.AccessKeyID), "DeleteAccessKey")
	_, err = s.GetAccessKey(ctx, k.AccessKeyID)
	is(t, err, store.ErrNotFound, "GetAccessKey after delete")
	err = s.DeleteAccessKey(ctx, k.AccessKeyID)
	is(t, err, store.ErrNotFound, "DeleteAccessKey twice")
	wrapped(t, err, "DeleteAccessKey twice")
}

func testAccessKeySecretRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, userRec("alice", "/"))
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	for i, secret := range [][]byte{
		every,
		{0x00},
		{0x00, 0x00, 0xff, 0x00},
		[]byte("\xff\xfe invalid utf-8 \xc3\x28 and a NUL \x00 inside"),
		bytes.Repeat([]byte{0x01, 0x80, 0x00}, 1000),
	} {
		k := keyRec("alice", at(i))
		k.SecretSealed = secret
		ok(t, s.CreateAccessKey(ctx, k), "CreateAccessKey")
		got, err := s.GetAccessKey(ctx, k.AccessKeyID)
		ok(t, err, "GetAccessKey")
		if !bytes.Equal(got.SecretSealed, secret) {
			t.Errorf("secret %d: got %x, want %x", i, got.SecretSealed, secret)
		}
	}
	ks, err := s.ListAccessKeys(ctx, "alice")
	ok(t, err, "ListAccessKeys")
	if len(ks) == 0 || !bytes.Equal(ks[0].SecretSealed, every) {
		t.Errorf("ListAccessKeys did not return the secrets byte for byte")
	}
}

func testAccessKeysOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, userRec("alice", "/"))
	// Created out of date order, listed in date order.
	k2 := keyRec("alice", at(20))
	k1 := keyRec("alice", at(10))
	k3 := keyRec("alice", at(30))
	for _, k := range []store.AccessKey{k2, k3, k1} {
		ok(t, s.CreateAccessKey(ctx, k), "CreateAccessKey")
	}
	ks, err := s.ListAccessKeys(ctx, "alice")
	ok(t, err, "ListAccessKeys")
	var got []string
	for _, k := range ks {
		got = append(got, k.AccessKeyID)
	}
	sameNames(t, got, []string{k1.AccessKeyID, k2.AccessKeyID, k3.AccessKeyID}, "ListAccessKeys order")
	for i, k := range ks {
		sameTime(t, k.CreateDate, []store.AccessKey{k1, k2, k3}[i].CreateDate, "listed key CreateDate")
	}
}
