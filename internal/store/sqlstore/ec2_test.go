package sqlstore

import (
	"database/sql"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/pgtest"
)

func ec2Fixture(t *testing.T, r store.Repo) store.Endpoint {
	t.Helper()
	ctx := t.Context()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := store.Endpoint{EndpointID: "eice-1", State: "create-complete", SubnetID: "subnet-1", VpcID: "vpc-1",
		SecurityGroupIDs: []string{"sg-1"}, CreatedAt: now, Tags: []store.Tag{{Key: "Name", Value: "one"}}}
	err := errors.Join(
		r.CreateVpc(ctx, store.Vpc{VpcID: "vpc-1", CidrBlock: "10.0.0.0/16", State: "available", CreateDate: now}),
		r.CreateSecurityGroup(ctx, store.SecurityGroup{GroupID: "sg-1", GroupName: "default", VpcID: "vpc-1", IsDefault: true, CreateDate: now}),
		r.CreateSubnet(ctx, store.Subnet{SubnetID: "subnet-1", VpcID: "vpc-1", CidrBlock: "10.0.0.0/24", CreateDate: now}),
		r.CreateEndpoint(ctx, e),
	)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEndpointCacheFollowsStoreWrites: on SQLite (one process writes the
// file) the cached endpoint listing is served without a query while the
// Store's count of committed writes stands still, and every write through
// the Store that changes an endpoint (its state, tags, an InTx, a rolled
// back InTx, a delete and purge) is seen by the next read. A write to
// another resource moves the count; then the change counter is read and
// the same snapshot kept. A write the Store did not make (plain SQL) is
// seen once the count moves; no other Store can open the file (ErrInUse).
func TestEndpointCacheFollowsStoreWrites(t *testing.T) {
	ctx := t.Context()
	a, path := openTemp(t, defaultSQLiteOptions())
	e := ec2Fixture(t, a)

	state := func(what, want string, wantTags ...store.Tag) {
		t.Helper()
		for range 2 { // once loading or checking, once cached
			list, err := a.ListEndpoints(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.GetEndpoint(ctx, e.EndpointID)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].State != want || got.State != want ||
				!reflect.DeepEqual(list[0].Tags, wantTags) || !reflect.DeepEqual(got.Tags, wantTags) {
				t.Fatalf("%s: listed %+v, got %+v; want state %s, tags %v", what, list, got, want, wantTags)
			}
		}
		if s := a.endpoints.snap; s == nil || !s.hasLocal || s.local != a.Changes() {
			t.Fatalf("%s: the listing is not cached at the store's count %d: %+v", what, a.Changes(), s)
		}
	}
	state("start", "create-complete", e.Tags...)

	e.State = "update-in-progress"
	if err := a.UpdateEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	state("updated", "update-in-progress", e.Tags...)

	if err := a.SetTags(ctx, e.EndpointID, []store.Tag{{Key: "Name", Value: "two"}}); err != nil {
		t.Fatal(err)
	}
	state("tagged", "update-in-progress", store.Tag{Key: "Name", Value: "two"})

	e.State, e.Tags = "create-complete", []store.Tag{{Key: "Name", Value: "two"}}
	if err := a.InTx(ctx, func(tx store.Repo) error { return tx.UpdateEndpoint(ctx, e) }); err != nil {
		t.Fatal(err)
	}
	state("updated in a transaction", "create-complete", e.Tags...)

	undo := errors.New("undo")
	if err := a.InTx(ctx, func(tx store.Repo) error {
		e2 := e
		e2.State = "delete-in-progress"
		if err := tx.UpdateEndpoint(ctx, e2); err != nil {
			return err
		}
		// Read inside the transaction: its own write, never cached.
		if got, err := tx.GetEndpoint(ctx, e.EndpointID); err != nil || got.State != "delete-in-progress" {
			t.Errorf("inside the transaction: %+v, %v; want its own write", got, err)
		}
		return undo
	}); !errors.Is(err, undo) {
		t.Fatal(err)
	}
	state("after a rolled-back transaction", "create-complete", e.Tags...)

	// No query while the count stands still: a change the Store did not
	// make, counter included, is not seen...
	for _, stmt := range []string{
		"UPDATE endpoints SET state = 'update-complete'",
		"UPDATE resource_tags SET tag_value = 'three'",
	} {
		if _, err := a.writer.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	state("changed by plain SQL, count unchanged", "create-complete", e.Tags...)
	// ...until a write through the Store moves the count: the counter is
	// read then, and the listing reloaded.
	if err := a.SetTags(ctx, "vpc-1", []store.Tag{{Key: "k", Value: "v"}}); err != nil {
		t.Fatal(err)
	}
	state("after a write to another resource", "update-complete", store.Tag{Key: "Name", Value: "three"})

	// Writes to other resources keep the snapshot's rows (no reload):
	// only its count changes.
	before := a.endpoints.snap.all
	if err := errors.Join(
		a.SetTags(ctx, "vpc-1", []store.Tag{{Key: "k", Value: "w"}}),
		a.CreateSecurityGroup(ctx, store.SecurityGroup{GroupID: "sg-2", GroupName: "web", VpcID: "vpc-1"}),
	); err != nil {
		t.Fatal(err)
	}
	state("after writes to other resources", "update-complete", store.Tag{Key: "Name", Value: "three"})
	if &a.endpoints.snap.all[0] != &before[0] {
		t.Error("a write to another resource reloaded the endpoint listing")
	}

	// No other Store can open the file: its writes would go unseen.
	if b, err := OpenSQLite(ctx, path, nil); !errors.Is(err, ErrInUse) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("a second Store on the file: %v, want ErrInUse", err)
	}

	e.State, e.DeletedAt = "delete-complete", time.Now()
	if err := a.UpdateEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got, err := a.GetEndpoint(ctx, e.EndpointID); err != nil || got.DeletedAt.IsZero() {
		t.Fatalf("after the delete: %+v, %v; want it marked deleted", got, err)
	}
	if n, err := a.PurgeEndpoints(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if _, err := a.GetEndpoint(ctx, e.EndpointID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the purge: %v, want ErrNotFound", err)
	}
}

// TestPostgresEndpointCacheFollowsReplicas: with PostgreSQL every read
// checks the change counter, so an endpoint written by another replica is
// seen by this one's next read, its cache notwithstanding.
func TestPostgresEndpointCacheFollowsReplicas(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Start(t)
	a, b := openPG(t, dsn), openPG(t, dsn)
	e := ec2Fixture(t, a)
	for i, want := range []string{"update-in-progress", "create-complete", "update-complete"} {
		if _, err := a.GetEndpoint(ctx, e.EndpointID); err != nil { // cached on a
			t.Fatal(err)
		}
		e.State = want
		if err := b.UpdateEndpoint(ctx, e); err != nil {
			t.Fatal(err)
		}
		got, err := a.GetEndpoint(ctx, e.EndpointID)
		if err != nil || got.State != want {
			t.Fatalf("round %d: a read %+v, %v after b wrote state %s", i, got, err, want)
		}
		if list, err := a.ListEndpoints(ctx); err != nil || len(list) != 1 || list[0].State != want {
			t.Fatalf("round %d: a listed %+v, %v after b wrote state %s", i, list, err, want)
		}
	}
}

// TestMigration0003KeepsTags: moving resource_tags to its new key keeps
// every tag and its order.
func TestMigration0003KeepsTags(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "postern.db")
	upTo2, err := OpenSQLite(ctx, path, nil) // creates the file; then rewind
	if err != nil {
		t.Fatal(err)
	}
	upTo2.Close()

	// A database at version 2, written by hand: without what 0003 and
	// later migrations made.
	db, err := sql.Open("sqlite", sqliteDSN(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		"DROP TABLE IF EXISTS open_tunnels",   // 0032
		"DROP TABLE IF EXISTS oidc_providers", // 0010
		"ALTER TABLE sessions DROP COLUMN fed_provider",
		"ALTER TABLE sessions DROP COLUMN fed_subject",
		"ALTER TABLE sessions DROP COLUMN fed_audience",
		"ALTER TABLE sessions DROP COLUMN source_identity",
		"ALTER TABLE sessions DROP COLUMN fed_tags",
		"DROP TABLE IF EXISTS host_key_pins",   // 0009
		"DROP TABLE IF EXISTS mfa_device_tags", // 0008
		"DROP TABLE IF EXISTS mfa_devices",
		"DROP TABLE IF EXISTS password_policy",
		"DROP TABLE IF EXISTS login_profiles",
		"ALTER TABLE sessions DROP COLUMN user_id",
		"ALTER TABLE sessions DROP COLUMN mfa_authenticated",
		"ALTER TABLE sessions DROP COLUMN auth_time",
		"DROP TABLE IF EXISTS live_tunnels", // 0007
		"DROP TABLE IF EXISTS replicas",     // 0006
		"DROP TABLE IF EXISTS pushed_keys",  // 0005
		"DROP TABLE IF EXISTS agents",       // 0004
		"DROP TABLE IF EXISTS join_tokens",
		"DROP TABLE IF EXISTS presign_uses",
		"DROP TABLE IF EXISTS events",
		"DROP INDEX IF EXISTS instances_by_ipv6",
		"DROP TABLE IF EXISTS change_counters", // 0003
		"DROP TABLE IF EXISTS resource_tags",
		"DELETE FROM schema_migrations WHERE version > 2",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE type = 'trigger'")
	if err != nil {
		t.Fatal(err)
	}
	triggers, err := scanStrings(rows)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range triggers {
		if _, err := db.ExecContext(ctx, "DROP TRIGGER "+tr); err != nil {
			t.Fatal(err)
		}
	}
	ddl := migrationText(t, "0002_ec2.sql")
	start := strings.Index(ddl, "CREATE TABLE resource_tags")
	end := strings.Index(ddl[start:], ";") + start + 1
	if _, err := db.ExecContext(ctx, ddl[start:end]); err != nil {
		t.Fatal(err)
	}
	for _, tag := range [][]any{{"vpc-1", "b", "2", 1}, {"vpc-1", "a", "1", 2}, {"vpc-1", "c", "3", 5}, {"i-1", "Name", "x", 1}} {
		if _, err := db.ExecContext(ctx, "INSERT INTO resource_tags (resource_id, tag_key, tag_value, seq) VALUES (?, ?, ?, ?)", tag...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := OpenSQLite(ctx, path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(ctx); v != latestVersion(t) {
		t.Fatalf("version %d", v)
	}
	got, err := s.ListTags(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]store.Tag{
		"vpc-1": {{Key: "b", Value: "2"}, {Key: "a", Value: "1"}, {Key: "c", Value: "3"}},
		"i-1":   {{Key: "Name", Value: "x"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tags after migration %v, want %v", got, want)
	}
	if err := s.SetTags(ctx, "vpc-1", []store.Tag{{Key: "a", Value: "new"}, {Key: "d", Value: "4"}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ListTags(ctx, []string{"vpc-1"})
	if w := []store.Tag{{Key: "b", Value: "2"}, {Key: "a", Value: "new"}, {Key: "c", Value: "3"}, {Key: "d", Value: "4"}}; !reflect.DeepEqual(got["vpc-1"], w) {
		t.Fatalf("tags after set %v, want %v", got["vpc-1"], w)
	}
}

func migrationText(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(sqliteDialect{}.migrations(), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEC2ErrorMessages(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	ec2Fixture(t, s)
	for _, tc := range []struct {
		err      error
		sentinel error
		text     string
	}{
		{s.DeleteVpc(ctx, "vpc-1"), store.ErrInUse, "sqlstore: delete vpc vpc-1: store: still in use: 1 subnet(s), 1 endpoint(s)"},
		{s.DeleteSubnet(ctx, "subnet-1"), store.ErrInUse, "sqlstore: delete subnet subnet-1: store: still in use: 1 endpoint(s)"},
		{s.DeleteSecurityGroup(ctx, "sg-1"), store.ErrInUse, "sqlstore: delete security group sg-1: store: still in use: 1 endpoint(s)"},
		{func() error { _, err := s.GetEndpoint(ctx, "eice-2"); return err }(), store.ErrNotFound, "sqlstore: get endpoint eice-2: endpoint eice-2: store: not found"},
		{s.CreateSubnet(ctx, store.Subnet{SubnetID: "subnet-2", VpcID: "vpc-2"}), store.ErrNotFound, "sqlstore: create subnet subnet-2: store: not found"},
		{s.AddSecurityGroupRules(ctx, []store.SecurityGroupRule{{RuleID: "sgr-1", GroupID: "sg-1", ReferencedGroupID: "sg-9"}}),
			store.ErrNotFound, "sqlstore: add security group rules: rule sgr-1: security group sg-9: store: not found"},
		{s.CreateSecurityGroup(ctx, store.SecurityGroup{GroupID: "sg-2", GroupName: "DEFAULT", VpcID: "vpc-1"}),
			store.ErrConflict, `sqlstore: create security group sg-2 ("DEFAULT"): store: already exists`},
		{s.UpdateEndpoint(ctx, store.Endpoint{EndpointID: "eice-9"}), store.ErrNotFound, "sqlstore: update endpoint eice-9: endpoint eice-9: store: not found"},
	} {
		if !errors.Is(tc.err, tc.sentinel) || !strings.HasPrefix(tc.err.Error(), tc.text) {
			t.Errorf("error %v, want %v starting %q", tc.err, tc.sentinel, tc.text)
		}
	}
}

// TestEC2WritesInTxUseSavepoints: a failed write inside InTx is undone
// by its own savepoint, and the transaction commits what came before.
func TestEC2WritesInTxUseSavepoints(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	err := s.InTx(ctx, func(tx store.Repo) error {
		ec2Fixture(t, tx)
		err := tx.CreateInstance(ctx, store.Instance{InstanceID: "i-1", SubnetID: "subnet-1", VpcID: "vpc-1",
			PrivateIPAddress: "10.0.0.5", SecurityGroupIDs: []string{"sg-1", "sg-9"}})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("instance with a missing group: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.reader.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM instances) + (SELECT count(*) FROM instance_security_groups)").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows of the failed instance remain", n)
	}
	if _, err := s.GetEndpoint(ctx, "eice-1"); err != nil {
		t.Errorf("the transaction's other writes: %v", err)
	}
}
