package storetest

import (
	"testing"

	"github.com/postern/postern/internal/store"
)

func testRolesCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	tags := []store.Tag{{Key: "z", Value: "last-alphabetically"}, {Key: "a", Value: "first"}}
	admin := mustCreateRole(t, ctx, s, roleRec("TunnelAdmin", "/service/", tags...))
	admin2 := roleRec("reader", "/")
	admin2.Description = ""
	admin2.MaxSessionDuration = 43200
	reader := mustCreateRole(t, ctx, s, admin2)

	got, err := s.GetRole(ctx, "tunneladmin")
	ok(t, err, "GetRole")
	sameRole(t, got, admin)
	got, err = s.GetRole(ctx, "READER")
	ok(t, err, "GetRole")
	sameRole(t, got, reader)

	_, err = s.GetRole(ctx, "nobody")
	is(t, err, store.ErrNotFound, "GetRole missing")
	wrapped(t, err, "GetRole missing")
	got, err = s.GetRoleByID(ctx, admin.RoleID)
	ok(t, err, "GetRoleByID")
	sameRole(t, got, admin)
	_, err = s.GetRoleByID(ctx, "AROANOSUCHROLE0000000")
	is(t, err, store.ErrNotFound, "GetRoleByID missing")
	wrapped(t, err, "GetRoleByID missing")

	is(t, s.CreateRole(ctx, roleRec("TUNNELADMIN", "/")), store.ErrConflict, "CreateRole with the name in another case")
	dup := roleRec("other", "/")
	dup.RoleID = admin.RoleID
	is(t, s.CreateRole(ctx, dup), store.ErrConflict, "CreateRole with an existing id")

	rs, err := s.ListRoles(ctx, "/")
	ok(t, err, "ListRoles")
	sameNames(t, names(rs, roleName), []string{"reader", "TunnelAdmin"}, "ListRoles")
	if len(rs) == 2 {
		sameRole(t, rs[1], admin)
	}
	rs, err = s.ListRoles(ctx, "/service/")
	ok(t, err, "ListRoles")
	sameNames(t, names(rs, roleName), []string{"TunnelAdmin"}, "ListRoles(/service/)")

	trust := `{"Version":"2012-10-17","Statement":[]}`
	ok(t, s.UpdateAssumeRolePolicy(ctx, "tunnelADMIN", trust), "UpdateAssumeRolePolicy")
	got, err = s.GetRole(ctx, "TunnelAdmin")
	ok(t, err, "GetRole")
	if got.AssumeRolePolicyDocument != trust {
		t.Errorf("trust policy = %s, want %s", got.AssumeRolePolicyDocument, trust)
	}
	admin.AssumeRolePolicyDocument = trust
	sameRole(t, got, admin)
	is(t, s.UpdateAssumeRolePolicy(ctx, "nobody", trust), store.ErrNotFound, "UpdateAssumeRolePolicy missing")

	ok(t, s.DeleteRole(ctx, "TunnelAdmin"), "DeleteRole")
	_, err = s.GetRole(ctx, "TunnelAdmin")
	is(t, err, store.ErrNotFound, "GetRole after delete")
	is(t, s.DeleteRole(ctx, "TunnelAdmin"), store.ErrNotFound, "DeleteRole twice")

	// Re-creating the name does not resurrect the old tags.
	fresh := mustCreateRole(t, ctx, s, roleRec("tunneladmin", "/"))
	got, err = s.GetRole(ctx, "TunnelAdmin")
	ok(t, err, "GetRole re-created")
	sameRole(t, got, fresh)
	// The old id does not lead to the new role of the same name.
	_, err = s.GetRoleByID(ctx, admin.RoleID)
	is(t, err, store.ErrNotFound, "GetRoleByID of the deleted role")
	got, err = s.GetRoleByID(ctx, fresh.RoleID)
	ok(t, err, "GetRoleByID re-created")
	sameRole(t, got, fresh)
}

func testRolesDeleteInUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateRole(t, ctx, s, roleRec("ops", "/"))
	p := mustCreatePolicy(t, ctx, s, policyRec("Tunnel", "/"))
	ok(t, s.PutInlinePolicy(ctx, store.InlinePolicy{Owner: roleRef("ops"), PolicyName: "p", Document: "{}"}), "PutInlinePolicy")
	err := s.DeleteRole(ctx, "ops")
	is(t, err, store.ErrInUse, "DeleteRole with an inline policy")
	wrapped(t, err, "DeleteRole in use")
	ok(t, s.DeleteInlinePolicy(ctx, roleRef("ops"), "p"), "DeleteInlinePolicy")

	ok(t, s.AttachPolicy(ctx, roleRef("ops"), p.ARN), "AttachPolicy")
	is(t, s.DeleteRole(ctx, "ops"), store.ErrInUse, "DeleteRole with an attached policy")
	ok(t, s.DetachPolicy(ctx, roleRef("ops"), p.ARN), "DetachPolicy")

	// Sessions of the role do not block its deletion.
	sess := sessionRec("ops", at(60))
	ok(t, s.CreateSession(ctx, sess), "CreateSession")
	ok(t, s.DeleteRole(ctx, "ops"), "DeleteRole with only sessions")
	_, err = s.GetSession(ctx, sess.AccessKeyID)
	ok(t, err, "GetSession after its role was deleted")
}
