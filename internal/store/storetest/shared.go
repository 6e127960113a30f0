package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/postern/postern/internal/store"
)

// The races that decide Postern's invariants, written as their callers
// write them: a transaction that reads, decides and writes (a quota
// check, a client-token lookup) or one conditional write (a join-token
// redemption, a presigned URL's first use). Run runs them on one store;
// RunShared runs them with the racers spread over several stores on one
// database, as server replicas on PostgreSQL are.

// RunShared runs the races with several stores sharing one database.
// open is called once per subtest and must return n (at least 2) new
// stores on one new, empty database, closing them at the end of the test.
func RunShared(t *testing.T, open func(t *testing.T, n int) []store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ss []store.Store)
	}{
		{"QuotaRace", testQuotaRace},
		{"ClientTokenRace", testClientTokenRace},
		{"JoinTokenRace", func(t *testing.T, ss []store.Store) { joinTokenRace(t, ss) }},
		{"PresignUseRace", func(t *testing.T, ss []store.Store) { presignUseRace(t, ss) }},
		{"ReadsSeeOtherStoresWrites", testReadsSeeOtherStores},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := open(t, 2)
			if len(ss) < 2 {
				t.Fatalf("open returned %d stores, want 2", len(ss))
			}
			tc.fn(t, ss)
		})
	}
}

// errQuota is the quota race's "limit reached".
var errQuota = errors.New("storetest: quota reached")

// quotaLimit is how many endpoints the quota race allows in its subnet.
const quotaLimit = 2

// testQuotaRace: transactions that count the endpoints of a subnet and
// create one only below the limit, all at once: exactly quotaLimit
// succeed, the others see the limit reached. (CreateInstanceConnectEndpoint
// checks its quota so.)
func testQuotaRace(t *testing.T, ss []store.Store) {
	ctx := context.Background()
	_, sn, def := network(t, ss[0], 1)
	errs := parallel(concurrency, func(i int) error {
		s := ss[i%len(ss)]
		return s.InTx(ctx, func(tx store.Repo) error {
			all, err := tx.ListEndpoints(ctx)
			if err != nil {
				return err
			}
			n := 0
			for _, e := range all {
				if e.SubnetID == sn.SubnetID {
					n++
				}
			}
			if n >= quotaLimit {
				return errQuota
			}
			return tx.CreateEndpoint(ctx, endpoint(100+i, sn, def.GroupID))
		})
	})
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, errQuota):
			t.Errorf("racer %d: %v, want nil or the quota error", i, err)
		}
	}
	if won != quotaLimit {
		t.Errorf("%d creates succeeded, want %d", won, quotaLimit)
	}
	for _, s := range ss {
		es, err := s.ListEndpoints(ctx)
		want(t, err, nil, "list endpoints")
		if len(es) != quotaLimit {
			t.Errorf("%d endpoints stored, want %d", len(es), quotaLimit)
		}
	}
}

// testClientTokenRace: creates with one client token, all at once, each
// in a transaction that looks the token up first and creates an endpoint
// and the token only if it is new: one endpoint is created, and every
// racer answers with it. (CreateInstanceConnectEndpoint's idempotency.)
func testClientTokenRace(t *testing.T, ss []store.Store) {
	ctx := context.Background()
	_, sn, def := network(t, ss[0], 1)
	const action, token = "CreateInstanceConnectEndpoint", "same-token"
	got := make([]string, concurrency)
	errs := parallel(concurrency, func(i int) error {
		s := ss[i%len(ss)]
		return s.InTx(ctx, func(tx store.Repo) error {
			ct, err := tx.GetClientToken(ctx, action, token)
			if err == nil {
				got[i] = ct.ResourceID
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			e := endpoint(200+i, sn, def.GroupID)
			if err := tx.CreateEndpoint(ctx, e); err != nil {
				return err
			}
			got[i] = e.EndpointID
			return tx.PutClientToken(ctx, store.ClientToken{Action: action, Token: token, ParamsHash: "h",
				ResourceID: e.EndpointID, CreateDate: ec2Time})
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("racer %d: %v", i, err)
		}
	}
	es, err := ss[0].ListEndpoints(ctx)
	want(t, err, nil, "list endpoints")
	if len(es) != 1 {
		t.Fatalf("%d endpoints created with one client token, want 1", len(es))
	}
	for i, id := range got {
		if id != es[0].EndpointID {
			t.Errorf("racer %d answered with %q, want %s", i, id, es[0].EndpointID)
		}
	}
	ct, err := ss[1%len(ss)].GetClientToken(ctx, action, token)
	want(t, err, nil, "get client token")
	if ct.ResourceID != es[0].EndpointID {
		t.Errorf("client token names %s, want %s", ct.ResourceID, es[0].EndpointID)
	}
}

// joinTokenRace: of redemptions of one token at once, half on their own
// and half inside InTx, spread over the stores, exactly one succeeds.
func joinTokenRace(t *testing.T, ss []store.Store) {
	ctx := context.Background()
	const racers = 8
	for round := range 3 {
		tok := joinTokenRec(round, "eice-1", tt(0), tt(60))
		want(t, ss[0].CreateJoinToken(ctx, tok), nil, "create token")
		errs := parallel(racers, func(i int) error {
			s := ss[i%len(ss)]
			agent := fmt.Sprintf("eni-%d", i)
			if (i/len(ss))%2 == 0 {
				_, err := s.RedeemJoinToken(ctx, tok.TokenHash, agent, tt(1))
				return err
			}
			return s.InTx(ctx, func(tx store.Repo) error {
				_, err := tx.RedeemJoinToken(ctx, tok.TokenHash, agent, tt(1))
				return err
			})
		})
		winner := ""
		for i, err := range errs {
			switch {
			case err == nil && winner != "":
				t.Fatalf("round %d: both %s and eni-%d redeemed the token", round, winner, i)
			case err == nil:
				winner = fmt.Sprintf("eni-%d", i)
			case !errors.Is(err, store.ErrNotFound):
				t.Fatalf("round %d: racer %d: %v, want ErrNotFound", round, i, err)
			}
		}
		if winner == "" {
			t.Fatalf("round %d: no racer redeemed the token", round)
		}
		for _, s := range ss {
			list, _ := s.ListJoinTokens(ctx, "")
			if got := list[len(list)-1]; got.TokenID != tok.TokenID || got.UsedBy != winner {
				t.Fatalf("round %d: stored token %+v, want it used by %s", round, got, winner)
			}
		}
	}
}

// presignUseRace: of first uses of one presigned URL at once, half on
// their own and half inside InTx, spread over the stores, exactly one is
// first and every racer is told the same first use.
func presignUseRace(t *testing.T, ss []store.Store) {
	ctx := context.Background()
	const racers = 8
	for round := range 3 {
		sig := hash(fmt.Sprint("race ", round))
		firsts := make([]store.PresignUse, racers)
		isFirst := make([]bool, racers)
		errs := parallel(racers, func(i int) error {
			s := ss[i%len(ss)]
			u := store.PresignUse{SignatureHash: sig, SourceIP: fmt.Sprint("192.0.2.", i), FirstUsedAt: tt(i), ExpiresAt: tt(60)}
			if (i/len(ss))%2 == 0 {
				var err error
				firsts[i], isFirst[i], err = s.RecordPresignUse(ctx, u)
				return err
			}
			return s.InTx(ctx, func(tx store.Repo) error {
				var err error
				firsts[i], isFirst[i], err = tx.RecordPresignUse(ctx, u)
				return err
			})
		})
		winner := -1
		for i, err := range errs {
			want(t, err, nil, fmt.Sprintf("round %d: racer %d", round, i))
			if isFirst[i] {
				if winner >= 0 {
					t.Fatalf("round %d: racers %d and %d were both first", round, winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no racer was first", round)
		}
		w := store.PresignUse{SignatureHash: sig, SourceIP: fmt.Sprint("192.0.2.", winner), FirstUsedAt: tt(winner), ExpiresAt: tt(60)}
		for i := range firsts {
			same(t, firsts[i], w, fmt.Sprintf("round %d: first use seen by racer %d", round, i))
		}
	}
}

// testReadsSeeOtherStores: what one store writes, the others read at
// once, cached listings included.
func testReadsSeeOtherStores(t *testing.T, ss []store.Store) {
	ctx := context.Background()
	a, b := ss[0], ss[1]
	_, sn, def := network(t, a, 1)
	e1 := endpoint(1, sn, def.GroupID)
	want(t, a.CreateEndpoint(ctx, e1), nil, "create on a")
	for _, s := range ss { // fill every store's listing cache
		es, err := s.ListEndpoints(ctx)
		want(t, err, nil, "list")
		sameIDs(t, ids(es, endpointID), []string{e1.EndpointID}, "endpoints")
	}
	e2 := endpoint(2, sn, def.GroupID)
	want(t, b.CreateEndpoint(ctx, e2), nil, "create on b")
	e1.State = "available"
	want(t, b.UpdateEndpoint(ctx, e1), nil, "update on b")
	want(t, b.SetTags(ctx, e1.EndpointID, []store.Tag{{Key: "Name", Value: "one"}}), nil, "tag on b")
	es, err := a.ListEndpoints(ctx)
	want(t, err, nil, "list on a")
	sameIDs(t, ids(es, endpointID), []string{e1.EndpointID, e2.EndpointID}, "endpoints on a after b's writes")
	if es[0].State != "available" || len(es[0].Tags) != 1 {
		t.Errorf("a lists %+v, want b's update and tag", es[0])
	}
	got, err := a.GetEndpoint(ctx, e2.EndpointID)
	want(t, err, nil, "get on a")
	if got.EndpointID != e2.EndpointID {
		t.Errorf("get on a = %s", got.EndpointID)
	}

	mustCreateUser(t, ctx, b, userRec("alice", "/"))
	u, err := a.GetUser(ctx, "ALICE")
	want(t, err, nil, "get user on a")
	if u.UserName != "alice" {
		t.Errorf("user on a = %+v", u)
	}
}
