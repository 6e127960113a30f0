package storetest

import (
	"testing"

	"github.com/postern/postern/internal/store"
)

func testGroupsCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	devs := mustCreateGroup(t, ctx, s, groupRec("Developers", "/eng/"))
	ops := mustCreateGroup(t, ctx, s, groupRec("ops", "/"))
	mustCreateGroup(t, ctx, s, groupRec("Admins", "/engineering/"))

	got, err := s.GetGroup(ctx, "developers")
	ok(t, err, "GetGroup")
	sameGroup(t, got, devs)
	got, err = s.GetGroup(ctx, "OPS")
	ok(t, err, "GetGroup")
	sameGroup(t, got, ops)

	_, err = s.GetGroup(ctx, "nobody")
	is(t, err, store.ErrNotFound, "GetGroup missing")
	wrapped(t, err, "GetGroup missing")

	err = s.CreateGroup(ctx, groupRec("DEVELOPERS", "/"))
	is(t, err, store.ErrConflict, "CreateGroup with the name in another case")
	wrapped(t, err, "CreateGroup conflict")
	dup := groupRec("other", "/")
	dup.GroupID = ops.GroupID
	is(t, s.CreateGroup(ctx, dup), store.ErrConflict, "CreateGroup with an existing id")

	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"Admins", "Developers", "ops"}},
		{"/", []string{"Admins", "Developers", "ops"}},
		{"/eng/", []string{"Developers"}},
		{"/eng", []string{"Admins", "Developers"}},
		{"/x/", nil},
	} {
		gs, err := s.ListGroups(ctx, tc.prefix)
		ok(t, err, "ListGroups")
		sameNames(t, names(gs, groupName), tc.want, "ListGroups("+tc.prefix+")")
	}

	ok(t, s.DeleteGroup(ctx, "Ops"), "DeleteGroup")
	_, err = s.GetGroup(ctx, "ops")
	is(t, err, store.ErrNotFound, "GetGroup after delete")
	is(t, s.DeleteGroup(ctx, "ops"), store.ErrNotFound, "DeleteGroup twice")
}

func testGroupMembership(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustCreateUser(t, ctx, s, userRec("alice", "/", store.Tag{Key: "k", Value: "v"}))
	bob := mustCreateUser(t, ctx, s, userRec("Bob", "/"))
	carol := mustCreateUser(t, ctx, s, userRec("carol", "/"))
	mustCreateGroup(t, ctx, s, groupRec("zeta", "/"))
	mustCreateGroup(t, ctx, s, groupRec("Alpha", "/"))
	mustCreateGroup(t, ctx, s, groupRec("beta", "/"))

	is(t, s.AddUserToGroup(ctx, "nogroup", "alice"), store.ErrNotFound, "AddUserToGroup to a missing group")
	is(t, s.AddUserToGroup(ctx, "zeta", "nobody"), store.ErrNotFound, "AddUserToGroup of a missing user")

	ok(t, s.AddUserToGroup(ctx, "zeta", "carol"), "AddUserToGroup")
	ok(t, s.AddUserToGroup(ctx, "ZETA", "ALICE"), "AddUserToGroup in other case")
	ok(t, s.AddUserToGroup(ctx, "zeta", "Bob"), "AddUserToGroup")
	ok(t, s.AddUserToGroup(ctx, "zeta", "bob"), "AddUserToGroup again is a no-op")
	ok(t, s.AddUserToGroup(ctx, "beta", "alice"), "AddUserToGroup")
	ok(t, s.AddUserToGroup(ctx, "alpha", "alice"), "AddUserToGroup")

	members, err := s.ListGroupMembers(ctx, "zeta")
	ok(t, err, "ListGroupMembers")
	sameNames(t, names(members, userName), []string{"alice", "Bob", "carol"}, "ListGroupMembers")
	if len(members) == 3 {
		sameUser(t, members[0], alice)
		sameUser(t, members[1], bob)
		sameUser(t, members[2], carol)
	}

	groups, err := s.ListGroupsForUser(ctx, "Alice")
	ok(t, err, "ListGroupsForUser")
	sameNames(t, names(groups, groupName), []string{"Alpha", "beta", "zeta"}, "ListGroupsForUser")

	groups, err = s.ListGroupsForUser(ctx, "bob")
	ok(t, err, "ListGroupsForUser")
	sameNames(t, names(groups, groupName), []string{"zeta"}, "ListGroupsForUser(bob)")

	members, err = s.ListGroupMembers(ctx, "beta")
	ok(t, err, "ListGroupMembers")
	sameNames(t, names(members, userName), []string{"alice"}, "ListGroupMembers(beta)")

	mustCreateGroup(t, ctx, s, groupRec("empty", "/"))
	members, err = s.ListGroupMembers(ctx, "empty")
	ok(t, err, "ListGroupMembers of an empty group")
	if len(members) != 0 {
		t.Errorf("ListGroupMembers(empty) = %d members", len(members))
	}
	mustCreateUser(t, ctx, s, userRec("loner", "/"))
	groups, err = s.ListGroupsForUser(ctx, "loner")
	ok(t, err, "ListGroupsForUser of a user in no group")
	if len(groups) != 0 {
		t.Errorf("ListGroupsForUser(loner) = %d groups", len(groups))
	}
	_, err = s.ListGroupMembers(ctx, "nogroup")
	is(t, err, store.ErrNotFound, "ListGroupMembers of a missing group")
	_, err = s.ListGroupsForUser(ctx, "nobody")
	is(t, err, store.ErrNotFound, "ListGroupsForUser of a missing user")

	ok(t, s.RemoveUserFromGroup(ctx, "Zeta", "BOB"), "RemoveUserFromGroup")
	err = s.RemoveUserFromGroup(ctx, "zeta", "bob")
	is(t, err, store.ErrNotFound, "RemoveUserFromGroup of a non-member")
	wrapped(t, err, "RemoveUserFromGroup")
	is(t, s.RemoveUserFromGroup(ctx, "nogroup", "bob"), store.ErrNotFound, "RemoveUserFromGroup of a missing group")
	is(t, s.RemoveUserFromGroup(ctx, "zeta", "nobody"), store.ErrNotFound, "RemoveUserFromGroup of a missing user")

	members, err = s.ListGroupMembers(ctx, "zeta")
	ok(t, err, "ListGroupMembers")
	sameNames(t, names(members, userName), []string{"alice", "carol"}, "ListGroupMembers after remove")
}

func testGroupsDeleteInUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, userRec("alice", "/"))
	mustCreateGroup(t, ctx, s, groupRec("devs", "/"))
	p := mustCreatePolicy(t, ctx, s, policyRec("Tunnel", "/"))
	type dependent struct {
		name        string
		add, remove func() error
	}
	for _, d := range []dependent{
		{"member",
			func() error { return s.AddUserToGroup(ctx, "devs", "alice") },
			func() error { return s.RemoveUserFromGroup(ctx, "devs", "alice") }},
		{"inline policy",
			func() error {
				return s.PutInlinePolicy(ctx, store.InlinePolicy{Owner: groupRef("devs"), PolicyName: "p", Document: "{}"})
			},
			func() error { return s.DeleteInlinePolicy(ctx, groupRef("devs"), "p") }},
		{"attached policy",
			func() error { return s.AttachPolicy(ctx, groupRef("devs"), p.ARN) },
			func() error { return s.DetachPolicy(ctx, groupRef("devs"), p.ARN) }},
	} {
		ok(t, d.add(), "add "+d.name)
		err := s.DeleteGroup(ctx, "devs")
		is(t, err, store.ErrInUse, "DeleteGroup with a "+d.name)
		wrapped(t, err, "DeleteGroup in use")
		ok(t, d.remove(), "remove "+d.name)
	}
	ok(t, s.DeleteGroup(ctx, "devs"), "DeleteGroup without dependents")
	// The user outlives the group.
	_, err := s.GetUser(ctx, "alice")
	ok(t, err, "GetUser after DeleteGroup")
}
