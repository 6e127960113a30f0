package storetest

import (
	"testing"

	"github.com/postern/postern/internal/store"
)

func testInlinePolicies(t *testing.T, s store.Store) {
	ctx := t.Context()
	// A user, a group and a role with the same name keep separate policies.
	mustCreateUser(t, ctx, s, userRec("Ops", "/"))
	mustCreateGroup(t, ctx, s, groupRec("Ops", "/"))
	mustCreateRole(t, ctx, s, roleRec("Ops", "/"))
	owners := []store.PrincipalRef{userRef("ops"), groupRef("OPS"), roleRef("Ops")}

	for _, o := range owners {
		missing := store.PrincipalRef{Kind: o.Kind, Name: "nobody"}
		err := s.PutInlinePolicy(ctx, store.InlinePolicy{Owner: missing, PolicyName: "p", Document: "{}"})
		is(t, err, store.ErrNotFound, "PutInlinePolicy for a missing "+string(o.Kind))
		wrapped(t, err, "PutInlinePolicy")
		_, err = s.ListInlinePolicies(ctx, missing)
		is(t, err, store.ErrNotFound, "ListInlinePolicies of a missing "+string(o.Kind))
		_, err = s.GetInlinePolicy(ctx, missing, "p")
		is(t, err, store.ErrNotFound, "GetInlinePolicy of a missing "+string(o.Kind))
		is(t, s.DeleteInlinePolicy(ctx, missing, "p"), store.ErrNotFound, "DeleteInlinePolicy of a missing "+string(o.Kind))

		ps, err := s.ListInlinePolicies(ctx, o)
		ok(t, err, "ListInlinePolicies with none")
		if len(ps) != 0 {
			t.Errorf("ListInlinePolicies(%v) = %d before any put", o, len(ps))
		}
	}

	doc := func(o store.PrincipalRef, n int) string {
		return `{"Version":"2012-10-17","Statement":[{"Sid":"` + string(o.Kind) + string(rune('0'+n)) + `","Effect":"Allow","Action":"*","Resource":"*"}]}`
	}
	for _, o := range owners {
		for _, name := range []string{"zeta", "Alpha", "beta"} {
			ok(t, s.PutInlinePolicy(ctx, store.InlinePolicy{Owner: o, PolicyName: name, Document: doc(o, 1)}), "PutInlinePolicy")
		}
	}
	for _, o := range owners {
		// Put replaces the document.
		ok(t, s.PutInlinePolicy(ctx, store.InlinePolicy{Owner: o, PolicyName: "beta", Document: doc(o, 2)}), "PutInlinePolicy replace")

		got, err := s.GetInlinePolicy(ctx, o, "beta")
		ok(t, err, "GetInlinePolicy")
		want := store.InlinePolicy{Owner: store.PrincipalRef{Kind: o.Kind, Name: "Ops"}, PolicyName: "beta", Document: doc(o, 2)}
		if got != want {
			t.Errorf("GetInlinePolicy(%v, beta) = %+v, want %+v", o, got, want)
		}
		got, err = s.GetInlinePolicy(ctx, o, "zeta")
		ok(t, err, "GetInlinePolicy")
		if got.Document != doc(o, 1) {
			t.Errorf("GetInlinePolicy(%v, zeta).Document = %s, want %s", o, got.Document, doc(o, 1))
		}
		_, err = s.GetInlinePolicy(ctx, o, "gamma")
		is(t, err, store.ErrNotFound, "GetInlinePolicy of a missing policy")
		wrapped(t, err, "GetInlinePolicy")

		ps, err := s.ListInlinePolicies(ctx, o)
		ok(t, err, "ListInlinePolicies")
		var got3 []string
		for _, p := range ps {
			got3 = append(got3, p.PolicyName)
			if p.Owner.Kind != o.Kind || p.Owner.Name != "Ops" {
				t.Errorf("ListInlinePolicies(%v): owner = %+v", o, p.Owner)
			}
			wantDoc := doc(o, 1)
			if p.PolicyName == "beta" {
				wantDoc = doc(o, 2)
			}
			if p.Document != wantDoc {
				t.Errorf("ListInlinePolicies(%v): %s document = %s, want %s", o, p.PolicyName, p.Document, wantDoc)
			}
		}
		sameNames(t, got3, []string{"Alpha", "beta", "zeta"}, "ListInlinePolicies order")
	}

	// Deleting one owner's policy leaves the others' alone.
	ok(t, s.DeleteInlinePolicy(ctx, groupRef("ops"), "zeta"), "DeleteInlinePolicy")
	err := s.DeleteInlinePolicy(ctx, groupRef("ops"), "zeta")
	is(t, err, store.ErrNotFound, "DeleteInlinePolicy twice")
	wrapped(t, err, "DeleteInlinePolicy")
	_, err = s.GetInlinePolicy(ctx, groupRef("ops"), "zeta")
	is(t, err, store.ErrNotFound, "GetInlinePolicy after delete")
	for _, o := range []store.PrincipalRef{userRef("ops"), roleRef("ops")} {
		_, err := s.GetInlinePolicy(ctx, o, "zeta")
		ok(t, err, "another owner's policy of the same name survives")
	}
	ps, err := s.ListInlinePolicies(ctx, groupRef("ops"))
	ok(t, err, "ListInlinePolicies")
	sameNames(t, names(ps, func(p store.InlinePolicy) string { return p.PolicyName }), []string{"Alpha", "beta"}, "after delete")
}

func testManagedPoliciesCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mustCreatePolicy(t, ctx, s, policyRec("TunnelAccess", "/postern/"))
	b := mustCreatePolicy(t, ctx, s, policyRec("admin", "/"))
	mustCreatePolicy(t, ctx, s, policyRec("ReadOnly", "/postern/sub/"))

	got, err := s.GetManagedPolicy(ctx, a.ARN)
	ok(t, err, "GetManagedPolicy")
	samePolicy(t, got, a)
	got, err = s.GetManagedPolicy(ctx, b.ARN)
	ok(t, err, "GetManagedPolicy")
	samePolicy(t, got, b)
	_, err = s.GetManagedPolicy(ctx, "arn:aws:iam::"+account+":policy/nope")
	is(t, err, store.ErrNotFound, "GetManagedPolicy missing")
	wrapped(t, err, "GetManagedPolicy")

	conflict := policyRec("tunnelaccess", "/elsewhere/")
	err = s.CreateManagedPolicy(ctx, conflict)
	is(t, err, store.ErrConflict, "CreateManagedPolicy with the name in another case and path")
	wrapped(t, err, "CreateManagedPolicy")
	sameARN := policyRec("Different", "/")
	sameARN.ARN = b.ARN
	is(t, s.CreateManagedPolicy(ctx, sameARN), store.ErrConflict, "CreateManagedPolicy with an existing ARN")
	sameID := policyRec("Different", "/")
	sameID.PolicyID = b.PolicyID
	is(t, s.CreateManagedPolicy(ctx, sameID), store.ErrConflict, "CreateManagedPolicy with an existing id")

	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"admin", "ReadOnly", "TunnelAccess"}},
		{"/", []string{"admin", "ReadOnly", "TunnelAccess"}},
		{"/postern/", []string{"ReadOnly", "TunnelAccess"}},
		{"/postern/sub/", []string{"ReadOnly"}},
		{"/none/", nil},
	} {
		ps, err := s.ListManagedPolicies(ctx, tc.prefix)
		ok(t, err, "ListManagedPolicies")
		sameNames(t, names(ps, policyName), tc.want, "ListManagedPolicies("+tc.prefix+")")
	}
	ps, err := s.ListManagedPolicies(ctx, "/")
	ok(t, err, "ListManagedPolicies")
	for _, p := range ps {
		if p.PolicyName == a.PolicyName {
			samePolicy(t, p, a)
		}
	}

	ok(t, s.DeleteManagedPolicy(ctx, b.ARN), "DeleteManagedPolicy")
	_, err = s.GetManagedPolicy(ctx, b.ARN)
	is(t, err, store.ErrNotFound, "GetManagedPolicy after delete")
	err = s.DeleteManagedPolicy(ctx, b.ARN)
	is(t, err, store.ErrNotFound, "DeleteManagedPolicy twice")
	wrapped(t, err, "DeleteManagedPolicy")
}

func testAttachments(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, userRec("alice", "/"))
	mustCreateGroup(t, ctx, s, groupRec("devs", "/"))
	mustCreateRole(t, ctx, s, roleRec("ops", "/"))
	zeta := mustCreatePolicy(t, ctx, s, policyRec("zeta", "/"))
	alpha := mustCreatePolicy(t, ctx, s, policyRec("Alpha", "/"))
	unused := mustCreatePolicy(t, ctx, s, policyRec("unused", "/"))
	owners := []store.PrincipalRef{userRef("ALICE"), groupRef("Devs"), roleRef("OPS")}

	count := func(p store.ManagedPolicy) int32 {
		t.Helper()
		got, err := s.GetManagedPolicy(ctx, p.ARN)
		ok(t, err, "GetManagedPolicy")
		return got.AttachmentCount
	}

	for _, o := range owners {
		missing := store.PrincipalRef{Kind: o.Kind, Name: "nobody"}
		err := s.AttachPolicy(ctx, missing, zeta.ARN)
		is(t, err, store.ErrNotFound, "AttachPolicy to a missing "+string(o.Kind))
		wrapped(t, err, "AttachPolicy")
		is(t, s.AttachPolicy(ctx, o, "arn:aws:iam::"+account+":policy/nope"), store.ErrNotFound,
			"AttachPolicy of a missing policy")
		_, err = s.ListAttachedPolicies(ctx, missing)
		is(t, err, store.ErrNotFound, "ListAttachedPolicies of a missing "+string(o.Kind))
		ps, err := s.ListAttachedPolicies(ctx, o)
		ok(t, err, "ListAttachedPolicies with none")
		if len(ps) != 0 {
			t.Errorf("ListAttachedPolicies(%v) = %d before any attach", o, len(ps))
		}
	}
	if n := count(zeta); n != 0 {
		t.Errorf("AttachmentCount = %d before any attach", n)
	}

	for i, o := range owners {
		ok(t, s.AttachPolicy(ctx, o, zeta.ARN), "AttachPolicy")
		ok(t, s.AttachPolicy(ctx, o, zeta.ARN), "AttachPolicy again is a no-op")
		if n := count(zeta); n != int32(i+1) {
			t.Errorf("AttachmentCount = %d after attaching to %d owners", n, i+1)
		}
	}
	ok(t, s.AttachPolicy(ctx, userRef("alice"), alpha.ARN), "AttachPolicy")

	ps, err := s.ListAttachedPolicies(ctx, userRef("alice"))
	ok(t, err, "ListAttachedPolicies")
	sameNames(t, names(ps, policyName), []string{"Alpha", "zeta"}, "ListAttachedPolicies(alice)")
	if len(ps) == 2 {
		want := zeta
		want.AttachmentCount = 3
		samePolicy(t, ps[1], want)
		want = alpha
		want.AttachmentCount = 1
		samePolicy(t, ps[0], want)
	}
	ps, err = s.ListAttachedPolicies(ctx, groupRef("devs"))
	ok(t, err, "ListAttachedPolicies")
	sameNames(t, names(ps, policyName), []string{"zeta"}, "ListAttachedPolicies(devs)")

	ps, err = s.ListManagedPolicies(ctx, "/")
	ok(t, err, "ListManagedPolicies")
	counts := map[string]int32{}
	for _, p := range ps {
		counts[p.PolicyName] = p.AttachmentCount
	}
	if counts["zeta"] != 3 || counts["Alpha"] != 1 || counts["unused"] != 0 {
		t.Errorf("ListManagedPolicies counts = %v, want zeta:3 Alpha:1 unused:0", counts)
	}

	err = s.DeleteManagedPolicy(ctx, zeta.ARN)
	is(t, err, store.ErrInUse, "DeleteManagedPolicy while attached")
	wrapped(t, err, "DeleteManagedPolicy")
	ok(t, s.DeleteManagedPolicy(ctx, unused.ARN), "DeleteManagedPolicy of an unattached policy")

	err = s.DetachPolicy(ctx, roleRef("ops"), alpha.ARN)
	is(t, err, store.ErrNotFound, "DetachPolicy of a policy that is not attached")
	wrapped(t, err, "DetachPolicy")
	is(t, s.DetachPolicy(ctx, roleRef("nobody"), zeta.ARN), store.ErrNotFound, "DetachPolicy from a missing role")
	is(t, s.DetachPolicy(ctx, roleRef("ops"), "arn:aws:iam::"+account+":policy/nope"), store.ErrNotFound,
		"DetachPolicy of a missing policy")

	for i, o := range owners {
		ok(t, s.DetachPolicy(ctx, o, zeta.ARN), "DetachPolicy")
		if n := count(zeta); n != int32(len(owners)-i-1) {
			t.Errorf("AttachmentCount = %d after %d detaches", n, i+1)
		}
	}
	ps, err = s.ListAttachedPolicies(ctx, userRef("alice"))
	ok(t, err, "ListAttachedPolicies")
	sameNames(t, names(ps, policyName), []string{"Alpha"}, "ListAttachedPolicies after detach")
	ok(t, s.DeleteManagedPolicy(ctx, zeta.ARN), "DeleteManagedPolicy after detaching everywhere")
}
