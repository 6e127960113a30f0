package identity

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
)

// TestSourcesCacheFollowsWrites: cached policies are dropped by the first
// write, so a change of access takes effect on the next request.
func TestSourcesCacheFollowsWrites(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	u := store.User{UserID: "AIDATEST", UserName: "u", Path: "/", ARN: "arn:aws:iam::123456789012:user/u", CreateDate: now}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	ref := store.PrincipalRef{Kind: store.KindUser, Name: "u"}
	allow := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`
	if err := st.PutInlinePolicy(ctx, store.InlinePolicy{Owner: ref, PolicyName: "p", Document: allow}); err != nil {
		t.Fatal(err)
	}
	a := NewAuthorizer(st, nil)
	if a.changes == nil {
		t.Fatal("the SQLite store should count its changes")
	}
	p := &Principal{Type: TypeIAMUser, AccountID: "123456789012", ARN: u.ARN, UserName: "u", Policies: ref}
	decide := func() bool {
		t.Helper()
		d, err := a.Authorize(ctx, p, RequestInfo{}, "ec2:DescribeVpcs", "*", nil)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	for range 3 {
		if !decide() {
			t.Fatal("denied while the policy allows")
		}
	}
	if err := st.DeleteInlinePolicy(ctx, ref, "p"); err != nil {
		t.Fatal(err)
	}
	if decide() {
		t.Fatal("still allowed after the policy was deleted")
	}
	// A group policy added later is seen too.
	if err := st.CreateGroup(ctx, store.Group{GroupID: "AGPATEST", GroupName: "g", Path: "/", ARN: "arn:aws:iam::123456789012:group/g", CreateDate: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddUserToGroup(ctx, "g", "u"); err != nil {
		t.Fatal(err)
	}
	if err := st.PutInlinePolicy(ctx, store.InlinePolicy{Owner: store.PrincipalRef{Kind: store.KindGroup, Name: "g"}, PolicyName: "p", Document: allow}); err != nil {
		t.Fatal(err)
	}
	if !decide() {
		t.Fatal("group policy not seen")
	}
}
