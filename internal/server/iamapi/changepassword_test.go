package iamapi

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/postern/postern/internal/store"
)

// beforeTxStore is the real store, running hook (once it is armed) just
// before its next transaction begins: a concurrent request landing between
// a handler's reads and its transaction, at a fixed point.
type beforeTxStore struct {
	store.Store
	hook  atomic.Pointer[func()]
	armed atomic.Bool
}

// InTx runs the armed hook, then the transaction.
func (s *beforeTxStore) InTx(ctx context.Context, fn func(tx store.Repo) error) error {
	if s.armed.Swap(false) {
		if h := s.hook.Load(); h != nil {
			(*h)()
		}
	}
	return s.Store.InTx(ctx, fn)
}

// TestChangePasswordDoesNotOverwriteReset: ChangePassword checked the old
// password outside its transaction, so an administrator's reset
// (UpdateLoginProfile) landing between the check and the write was
// overwritten by the user's new password: the user, whose password the
// administrator had just taken away, kept access. Now the change is refused
// (EntityTemporarilyUnmodifiable) and the administrator's password stays.
func TestChangePasswordDoesNotOverwriteReset(t *testing.T) {
	wrapped := &beforeTxStore{}
	e := newEnv(t, func(s *envSettings) {
		s.serviceStore = func(st store.Store) store.Store { wrapped.Store = st; return wrapped }
	})
	e.loginUser("oscar", "", false)
	a := e.iam(e.admin)
	must(a.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{AllowUsersToChangePassword: true}))(t)
	r := must(SignIn(ctx, e.cfg, SignInInput{UserName: "oscar", Password: goodPassword}))(t)
	oscar := e.iam(e.sessionConfig(r))

	const adminPassword, userPassword = "Admin-Reset-Pass-7", "Brand-New-Pass-9"
	reset := func() {
		must(a.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("oscar"), Password: aws.String(adminPassword)}))(t)
	}
	wrapped.hook.Store(&reset)
	wrapped.armed.Store(true)
	_, err := oscar.ChangePassword(ctx, &iam.ChangePasswordInput{OldPassword: aws.String(goodPassword), NewPassword: aws.String(userPassword)})
	wantErr(t, err, "EntityTemporarilyUnmodifiable", 409, "was changed while this request ran")
	if wrapped.armed.Load() {
		t.Fatal("the reset did not run between the check and the write")
	}
	must(SignIn(ctx, e.cfg, SignInInput{UserName: "oscar", Password: adminPassword}))(t)
	if _, err := SignIn(ctx, e.cfg, SignInInput{UserName: "oscar", Password: userPassword}); err == nil {
		t.Fatal("the user's password overwrote the administrator's reset")
	}

	// Without a concurrent reset, the change goes through.
	r = must(SignIn(ctx, e.cfg, SignInInput{UserName: "oscar", Password: adminPassword}))(t)
	oscar = e.iam(e.sessionConfig(r))
	must(oscar.ChangePassword(ctx, &iam.ChangePasswordInput{OldPassword: aws.String(adminPassword), NewPassword: aws.String(userPassword)}))(t)
	must(SignIn(ctx, e.cfg, SignInInput{UserName: "oscar", Password: userPassword}))(t)
}
