// Package storetest is the conformance suite for store.Store
// implementations. A backend's tests call Run with a function that opens a
// fresh, empty store; every implementation (SQLite, PostgreSQL, …) must
// pass the same suite, so the behaviour the rest of Postern relies on is
// pinned down here rather than in any one backend.
//
// Beyond the contract written in package store, the suite requires:
//
//   - names of users, groups, roles and managed policies are unique and
//     looked up case-insensitively, returned as created, and lists are
//     ordered by name case-insensitively;
//   - path-prefix filters are plain, case-sensitive string prefixes ("%"
//     and "_" are not wildcards); "" and "/" list everything;
//   - tags come back in the order given;
//   - times come back in UTC and equal (time.Time.Equal) to what was
//     stored, to at least the millisecond;
//   - secrets and hashes come back byte for byte;
//   - listing the keys, groups, members or policies of a missing owner
//     returns store.ErrNotFound, while an owner with none returns an empty
//     list;
//   - records that name a user or owner (AccessKey.UserName,
//     InlinePolicy.Owner.Name) carry the name as created, whatever case the
//     caller used;
//   - inline policy names are compared exactly;
//   - writes from many goroutines at once, directly and through InTx,
//     either succeed or fail with store.ErrConflict;
//   - InTx transactions that read, decide and write at once behave as if
//     they ran one after the other (a quota check, a client-token
//     lookup; see shared.go), on one store and, with RunShared, across
//     several stores on one database.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// Run runs the conformance suite against the stores open returns. open is
// called once per subtest and must return a new, empty store; it is
// responsible for closing it (for example with t.Cleanup). Subtests do not
// run in parallel with each other.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Settings", testSettings},
		{"Users/CRUD", testUsersCRUD},
		{"Users/CaseInsensitiveNames", testUsersCaseInsensitive},
		{"Users/ListOrderAndPathPrefix", testUsersList},
		{"Users/DeleteInUse", testUsersDeleteInUse},
		{"AccessKeys/CRUD", testAccessKeysCRUD},
		{"AccessKeys/SecretRoundTrip", testAccessKeySecretRoundTrip},
		{"AccessKeys/OrderedByCreateDate", testAccessKeysOrder},
		{"Groups/CRUD", testGroupsCRUD},
		{"Groups/Membership", testGroupMembership},
		{"Groups/DeleteInUse", testGroupsDeleteInUse},
		{"Roles/CRUD", testRolesCRUD},
		{"Roles/DeleteInUse", testRolesDeleteInUse},
		{"Identity/RecreatedNameInheritsNothing", testRecreatedNameInheritsNothing},
		{"InlinePolicies", testInlinePolicies},
		{"ManagedPolicies/CRUD", testManagedPoliciesCRUD},
		{"ManagedPolicies/Attachments", testAttachments},
		{"Sessions", testSessions},
		{"Sessions/DeleteExpired", testDeleteExpiredSessions},
		{"Sessions/UserSessions", testUserSessions},
		{"LoginProfiles", testLoginProfiles},
		{"PasswordPolicy", testPasswordPolicy},
		{"MFADevices", testMFADevices},
		{"MFADevices/StepRace", testMFAStepRace},
		{"Users/DeleteWithLoginProfileOrMFA", testUserDeleteWithSignIn},
		{"OIDCProviders", testOIDCProviders},
		{"Sessions/WebIdentity", testWebIdentitySessions},
		{"InTx/Commit", testTxCommit},
		{"InTx/RollbackOnError", testTxRollbackOnError},
		{"InTx/RollbackOnStoreError", testTxRollbackOnStoreError},
		{"InTx/RollbackOnPanic", testTxRollbackOnPanic},
		{"InTx/Nested", testTxNested},
		{"InTx/BoundContext", testBoundTx},
		{"InTx/BoundContextCaches", testBoundTxCaches},
		{"Concurrency/CreateUsers", testConcurrentCreate},
		{"Concurrency/SameName", testConcurrentSameName},
		{"Concurrency/InTx", testConcurrentTx},
		{"Concurrency/ReadersAndWriters", testConcurrentReadWrite},
		{"EC2/Vpcs", testVpcs},
		{"EC2/Subnets", testSubnets},
		{"EC2/DeleteVpcInUse", testDeleteVpcInUse},
		{"EC2/SecurityGroups", testSecurityGroups},
		{"EC2/SecurityGroupRules", testSecurityGroupRules},
		{"EC2/DeleteSecurityGroupInUse", testDeleteSecurityGroupInUse},
		{"EC2/Instances", testInstances},
		{"EC2/FindInstanceByAddress", testFindInstanceByAddress},
		{"EC2/Endpoints", testEndpoints},
		{"EC2/EndpointsPage", testEndpointsPage},
		{"EC2/Tags", testResourceTags},
		{"EC2/ClientTokens", testClientTokens},
		{"EC2/InTxRollback", testEC2Rollback},
		{"EC2/FailedWriteInTx", testEC2FailedWriteInTx},
		{"EC2/ReadsFollowWrites", testEC2ReadsFollowWrites},
		{"EC2/RecordsAreCopies", testEC2RecordsAreCopies},
		{"EC2/ConcurrentCreates", testEC2Concurrent},
		{"EC2/ConcurrentReadWrite", testEC2ConcurrentReadWrite},
		{"EC2/QuotaRace", func(t *testing.T, s store.Store) { testQuotaRace(t, []store.Store{s}) }},
		{"EC2/ClientTokenRace", func(t *testing.T, s store.Store) { testClientTokenRace(t, []store.Store{s}) }},
		{"SSHKeys/PushedKeys", testPushedKeys},
		{"HostKeys/Pins", testHostKeyPins},
		{"Tunnels/EventLookup", testEventLookup},
		{"Replicas", testReplicas},
		{"Replicas/LiveTunnels", testLiveTunnels},
		{"Tunnels/Agents", testAgents},
		{"Tunnels/JoinTokens", testJoinTokens},
		{"Tunnels/JoinTokenRace", testJoinTokenRace},
		{"Tunnels/PresignUses", testPresignUses},
		{"Tunnels/PresignUseRace", testPresignUseRace},
		{"Tunnels/Events", testEvents},
		{"Tunnels/InTxRollback", testTunnelsRollback},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.fn(t, s)
		})
	}
}

// account is the account id in every ARN the suite makes.
const account = "123456789012"

// baseTime is deliberately not in UTC and has milliseconds, so the suite
// checks both the conversion to UTC and the precision.
var baseTime = time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.FixedZone("UTC+2", 2*3600))

// at returns baseTime plus n minutes.
func at(n int) time.Time { return baseTime.Add(time.Duration(n) * time.Minute) }

// seq makes the unique ids of one test.
var seq atomic.Int64

// id returns a fresh IAM-style unique id with the prefix (21 characters).
func id(prefix string) string {
	return fmt.Sprintf("%s%017d", prefix, seq.Add(1))
}

func userRec(name, path string, tags ...store.Tag) store.User {
	return store.User{
		UserID: id("AIDA"), UserName: name, Path: path,
		ARN: "arn:aws:iam::" + account + ":user" + path + name, CreateDate: at(0), Tags: tags,
	}
}

func groupRec(name, path string) store.Group {
	return store.Group{
		GroupID: id("AGPA"), GroupName: name, Path: path,
		ARN: "arn:aws:iam::" + account + ":group" + path + name, CreateDate: at(1),
	}
}

func roleRec(name, path string, tags ...store.Tag) store.Role {
	return store.Role{
		RoleID: id("AROA"), RoleName: name, Path: path,
		ARN:                      "arn:aws:iam::" + account + ":role" + path + name,
		AssumeRolePolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"sts:AssumeRole"}]}`,
		Description:              "role " + name,
		MaxSessionDuration:       3600,
		CreateDate:               at(2),
		Tags:                     tags,
	}
}

func policyRec(name, path string) store.ManagedPolicy {
	return store.ManagedPolicy{
		PolicyID: id("ANPA"), PolicyName: name, Path: path,
		ARN:              "arn:aws:iam::" + account + ":policy" + path + name,
		Description:      "policy " + name,
		Document:         `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2-instance-connect:OpenTunnel","Resource":"*"}]}`,
		DefaultVersionID: "v1",
		CreateDate:       at(3),
		UpdateDate:       at(4),
	}
}

func keyRec(userName string, created time.Time) store.AccessKey {
	return store.AccessKey{
		AccessKeyID:  fmt.Sprintf("AKIA%016d", seq.Add(1)),
		UserName:     userName,
		SecretSealed: []byte("sealed:" + userName),
		Status:       store.KeyActive,
		CreateDate:   created,
	}
}

func userRef(name string) store.PrincipalRef {
	return store.PrincipalRef{Kind: store.KindUser, Name: name}
}
func groupRef(name string) store.PrincipalRef {
	return store.PrincipalRef{Kind: store.KindGroup, Name: name}
}
func roleRef(name string) store.PrincipalRef {
	return store.PrincipalRef{Kind: store.KindRole, Name: name}
}

// ok fails the test now if err is not nil.
func ok(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// is fails the test now unless errors.Is(err, target).
func is(t testing.TB, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want errors.Is %v", what, err, target)
	}
}

// wrapped checks that a non-nil error is not a bare sentinel, i.e. that the
// implementation wrapped it with the operation.
func wrapped(t testing.TB, err error, what string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, sentinel := range []error{store.ErrNotFound, store.ErrConflict, store.ErrInUse} {
		if err == sentinel { //nolint:errorlint // checking for the bare sentinel on purpose
			t.Errorf("%s: the bare sentinel %v was returned; wrap it with the operation", what, err)
		}
	}
}

// sameTime checks that got is in UTC and equal to want.
func sameTime(t testing.TB, got, want time.Time, what string) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s: location = %v, want UTC", what, got.Location())
	}
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want.UTC())
	}
}

// sameTags compares tag lists, treating nil and empty alike.
func sameTags(t testing.TB, got, want []store.Tag, what string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s tags = %v, want %v", what, got, want)
	}
}

func sameUser(t testing.TB, got, want store.User) {
	t.Helper()
	sameTime(t, got.CreateDate, want.CreateDate, "user "+want.UserName+" CreateDate")
	sameTags(t, got.Tags, want.Tags, "user "+want.UserName)
	got.CreateDate, want.CreateDate, got.Tags, want.Tags = time.Time{}, time.Time{}, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("user = %+v, want %+v", got, want)
	}
}

func sameGroup(t testing.TB, got, want store.Group) {
	t.Helper()
	sameTime(t, got.CreateDate, want.CreateDate, "group "+want.GroupName+" CreateDate")
	got.CreateDate, want.CreateDate = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("group = %+v, want %+v", got, want)
	}
}

func sameRole(t testing.TB, got, want store.Role) {
	t.Helper()
	sameTime(t, got.CreateDate, want.CreateDate, "role "+want.RoleName+" CreateDate")
	sameTags(t, got.Tags, want.Tags, "role "+want.RoleName)
	got.CreateDate, want.CreateDate, got.Tags, want.Tags = time.Time{}, time.Time{}, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("role = %+v, want %+v", got, want)
	}
}

func samePolicy(t testing.TB, got, want store.ManagedPolicy) {
	t.Helper()
	sameTime(t, got.CreateDate, want.CreateDate, "policy "+want.PolicyName+" CreateDate")
	sameTime(t, got.UpdateDate, want.UpdateDate, "policy "+want.PolicyName+" UpdateDate")
	got.CreateDate, want.CreateDate, got.UpdateDate, want.UpdateDate = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("policy = %+v, want %+v", got, want)
	}
}

// names extracts a name from each element.
func names[T any](xs []T, name func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = name(x)
	}
	return out
}

func userName(u store.User) string            { return u.UserName }
func groupName(g store.Group) string          { return g.GroupName }
func roleName(r store.Role) string            { return r.RoleName }
func policyName(p store.ManagedPolicy) string { return p.PolicyName }

func sameNames(t testing.TB, got, want []string, what string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = [%s], want [%s]", what, strings.Join(got, " "), strings.Join(want, " "))
	}
}

// mustCreateUser creates a user or fails the test.
func mustCreateUser(t testing.TB, ctx context.Context, r store.Repo, u store.User) store.User {
	t.Helper()
	ok(t, r.CreateUser(ctx, u), "CreateUser "+u.UserName)
	return u
}

func mustCreateGroup(t testing.TB, ctx context.Context, r store.Repo, g store.Group) store.Group {
	t.Helper()
	ok(t, r.CreateGroup(ctx, g), "CreateGroup "+g.GroupName)
	return g
}

func mustCreateRole(t testing.TB, ctx context.Context, r store.Repo, role store.Role) store.Role {
	t.Helper()
	ok(t, r.CreateRole(ctx, role), "CreateRole "+role.RoleName)
	return role
}

func mustCreatePolicy(t testing.TB, ctx context.Context, r store.Repo, p store.ManagedPolicy) store.ManagedPolicy {
	t.Helper()
	ok(t, r.CreateManagedPolicy(ctx, p), "CreateManagedPolicy "+p.PolicyName)
	return p
}

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetSetting(ctx, "account_id")
	is(t, err, store.ErrNotFound, "GetSetting of an unset key")
	wrapped(t, err, "GetSetting")

	ok(t, s.PutSetting(ctx, "account_id", account), "PutSetting")
	ok(t, s.PutSetting(ctx, "region", "eu-west-1"), "PutSetting")
	v, err := s.GetSetting(ctx, "account_id")
	ok(t, err, "GetSetting")
	if v != account {
		t.Errorf("account_id = %q, want %q", v, account)
	}

	ok(t, s.PutSetting(ctx, "region", "us-east-2"), "PutSetting replaces")
	v, err = s.GetSetting(ctx, "region")
	ok(t, err, "GetSetting")
	if v != "us-east-2" {
		t.Errorf("region = %q after replace, want us-east-2", v)
	}

	ok(t, s.PutSetting(ctx, "empty", ""), "PutSetting empty value")
	v, err = s.GetSetting(ctx, "empty")
	ok(t, err, "GetSetting empty value")
	if v != "" {
		t.Errorf("empty = %q, want \"\"", v)
	}
	_, err = s.GetSetting(ctx, "Region")
	is(t, err, store.ErrNotFound, "setting keys are case-sensitive")
}
