package storetest

import (
	"testing"

	"github.com/postern/postern/internal/store"
)

// testRecreatedNameInheritsNothing: a user, group, role or managed policy
// deleted and created again under the same name (in another case, too) is
// a new identity: no access key, membership, inline policy or attachment
// of the old one carries over, because each of them names its owner by
// unique id and blocks the owner's delete while it exists.
func testRecreatedNameInheritsNothing(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, userRec("bob", "/"))
	mustCreateGroup(t, ctx, s, groupRec("devs", "/"))
	mustCreateRole(t, ctx, s, roleRec("ops", "/"))
	p := mustCreatePolicy(t, ctx, s, policyRec("Tunnel", "/"))
	key := keyRec("bob", at(0))
	ok(t, s.CreateAccessKey(ctx, key), "CreateAccessKey")
	ok(t, s.AddUserToGroup(ctx, "devs", "bob"), "AddUserToGroup")
	for _, owner := range []store.PrincipalRef{userRef("bob"), groupRef("devs"), roleRef("ops")} {
		ok(t, s.PutInlinePolicy(ctx, store.InlinePolicy{Owner: owner, PolicyName: "p", Document: "{}"}), "PutInlinePolicy")
		ok(t, s.AttachPolicy(ctx, owner, p.ARN), "AttachPolicy")
	}

	// Everything is taken apart and deleted, as IAM requires.
	ok(t, s.InTx(ctx, func(tx store.Repo) error {
		if err := tx.DeleteAccessKey(ctx, key.AccessKeyID); err != nil {
			return err
		}
		if err := tx.RemoveUserFromGroup(ctx, "devs", "bob"); err != nil {
			return err
		}
		for _, owner := range []store.PrincipalRef{userRef("bob"), groupRef("devs"), roleRef("ops")} {
			if err := tx.DeleteInlinePolicy(ctx, owner, "p"); err != nil {
				return err
			}
			if err := tx.DetachPolicy(ctx, owner, p.ARN); err != nil {
				return err
			}
		}
		if err := tx.DeleteUser(ctx, "bob"); err != nil {
			return err
		}
		if err := tx.DeleteGroup(ctx, "devs"); err != nil {
			return err
		}
		if err := tx.DeleteRole(ctx, "ops"); err != nil {
			return err
		}
		return tx.DeleteManagedPolicy(ctx, p.ARN)
	}), "take apart and delete")

	// The same names again, new ids.
	mustCreateUser(t, ctx, s, userRec("BOB", "/"))
	mustCreateGroup(t, ctx, s, groupRec("Devs", "/"))
	mustCreateRole(t, ctx, s, roleRec("OPS", "/"))
	p2 := mustCreatePolicy(t, ctx, s, policyRec("Tunnel", "/"))
	if keys, err := s.ListAccessKeys(ctx, "bob"); err != nil || len(keys) != 0 {
		t.Errorf("the new bob's access keys: %v, %v", keys, err)
	}
	if _, err := s.GetAccessKey(ctx, key.AccessKeyID); err == nil {
		t.Error("the old bob's access key still exists")
	}
	if gs, err := s.ListGroupsForUser(ctx, "bob"); err != nil || len(gs) != 0 {
		t.Errorf("the new bob's groups: %v, %v", names(gs, groupName), err)
	}
	if us, err := s.ListGroupMembers(ctx, "devs"); err != nil || len(us) != 0 {
		t.Errorf("the new devs' members: %v, %v", names(us, userName), err)
	}
	for _, owner := range []store.PrincipalRef{userRef("bob"), groupRef("devs"), roleRef("ops")} {
		if ps, err := s.ListInlinePolicies(ctx, owner); err != nil || len(ps) != 0 {
			t.Errorf("inline policies of the new %s %s: %d, %v", owner.Kind, owner.Name, len(ps), err)
		}
		if ps, err := s.ListAttachedPolicies(ctx, owner); err != nil || len(ps) != 0 {
			t.Errorf("attached policies of the new %s %s: %v, %v", owner.Kind, owner.Name, names(ps, policyName), err)
		}
	}
	if got, err := s.GetManagedPolicy(ctx, p2.ARN); err != nil || got.AttachmentCount != 0 || got.PolicyID == p.PolicyID {
		t.Errorf("the new policy: %+v, %v", got, err)
	}
}
