package ctapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// LookupEvents through the AWS SDK for Go v2 CloudTrail client: each
// lookup attribute, time range, paging, newest first, the full record.
func TestLookupEventsSDK(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	ctx := context.Background()
	echo := tunneltest.Echo(t)
	// Three tunnels by the admin, one refused for alice.
	for i := 0; i < 3; i++ {
		tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(echo.Port))
		if err != nil {
			t.Fatal(err)
		}
		// A byte echoed: the tunnel opened (and is on record) before it
		// closes; a client that leaves while the dial still runs would
		// leave an OpenTunnel and a CloseTunnel whose reason is
		// ClientGone, with no byte carried.
		if err := tunneltest.RoundTrip(tun, []byte("x")); err != nil {
			t.Fatal(err)
		}
		tun.Close()
	}
	alice := e.NewUser("alice", "")
	if _, err := e.Dialer(alice).Dial(ctx, e.Local(echo.Port)); err == nil {
		t.Fatal("alice opened a tunnel without a policy")
	}
	ct := cloudtrail.NewFromConfig(e.AWS(e.Admin))
	lookup := func(key cttypes.LookupAttributeKey, value string) []cttypes.Event {
		t.Helper()
		in := &cloudtrail.LookupEventsInput{}
		if key != "" {
			in.LookupAttributes = []cttypes.LookupAttribute{{AttributeKey: key, AttributeValue: aws.String(value)}}
		}
		var out []cttypes.Event
		p := cloudtrail.NewLookupEventsPaginator(ct, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, page.Events...)
		}
		return out
	}
	// Close records are written when the server sees each tunnel end.
	deadline := time.Now().Add(10 * time.Second)
	for len(lookup(cttypes.LookupAttributeKeyEventName, "CloseTunnel")) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the three close records were not written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	opens := lookup(cttypes.LookupAttributeKeyEventName, "OpenTunnel")
	if len(opens) != 4 {
		t.Fatalf("%d OpenTunnel events, want 4", len(opens))
	}
	for i := 1; i < len(opens); i++ {
		if opens[i].EventTime.After(*opens[i-1].EventTime) {
			t.Fatal("events are not newest first")
		}
	}
	var rec struct {
		EventName, ErrorCode string
		UserIdentity         struct{ UserName string }
	}
	if err := json.Unmarshal([]byte(aws.ToString(opens[0].CloudTrailEvent)), &rec); err != nil || rec.EventName != "OpenTunnel" ||
		rec.UserIdentity.UserName != "alice" || rec.ErrorCode != "AccessDeniedException" {
		t.Fatalf("newest record %+v %v", rec, err)
	}
	// Every API call is on record too (the admin's IAM calls, these
	// lookups); count the tunnel records among what each lookup finds.
	tunnelEvents := func(evs []cttypes.Event) int {
		n := 0
		for _, ev := range evs {
			if aws.ToString(ev.EventSource) == "ec2-instance-connect.amazonaws.com" {
				n++
			}
		}
		return n
	}
	cases := []struct {
		key   cttypes.LookupAttributeKey
		value string
		want  int
	}{
		{cttypes.LookupAttributeKeyUsername, "alice", 1},
		{cttypes.LookupAttributeKeyUsername, "admin", 3 + 3}, // three opens, three closes
		{cttypes.LookupAttributeKeyAccessKeyId, alice.AccessKeyID, 1},
		{cttypes.LookupAttributeKeyEventSource, "ec2-instance-connect.amazonaws.com", 4 + 3},
		{cttypes.LookupAttributeKeyResourceName, e.Server.Local.EndpointID, 4 + 3},
		{cttypes.LookupAttributeKeyResourceType, "AWS::EC2::InstanceConnectEndpoint", 4 + 3},
		{cttypes.LookupAttributeKeyReadOnly, "false", 4 + 3},
		{cttypes.LookupAttributeKeyReadOnly, "true", 0},
		{cttypes.LookupAttributeKeyEventId, aws.ToString(opens[2].EventId), 1},
		{cttypes.LookupAttributeKeyEventName, "CloseTunnel", 3},
	}
	for _, tc := range cases {
		if got := tunnelEvents(lookup(tc.key, tc.value)); got != tc.want {
			t.Errorf("%s=%s: %d tunnel events, want %d", tc.key, tc.value, got, tc.want)
		}
	}
	for _, name := range []string{"CreateUser", "CreateAccessKey"} {
		evs := lookup(cttypes.LookupAttributeKeyEventName, name)
		if len(evs) == 0 || aws.ToString(evs[0].EventSource) != "iam.amazonaws.com" || aws.ToString(evs[0].ReadOnly) != "false" {
			t.Errorf("%s is not on record: %+v", name, evs)
		}
	}
	if byName := lookup(cttypes.LookupAttributeKeyResourceName, "alice"); len(byName) < 2 ||
		aws.ToString(byName[0].Resources[0].ResourceType) != "AWS::IAM::User" {
		t.Errorf("alice's user record by ResourceName: %+v", byName)
	}
	if ro := lookup(cttypes.LookupAttributeKeyEventName, "LookupEvents"); len(ro) == 0 || aws.ToString(ro[0].ReadOnly) != "true" {
		t.Errorf("LookupEvents calls are not on record as read-only")
	}
	// Paging one at a time visits every event once (new lookups add
	// newer events above the first page, not between pages).
	before := lookup("", "")
	seen := map[string]bool{}
	p := cloudtrail.NewLookupEventsPaginator(ct, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) > 1 {
			t.Fatalf("a page of %d events with MaxResults 1", len(page.Events))
		}
		for _, ev := range page.Events {
			if seen[aws.ToString(ev.EventId)] {
				t.Fatalf("event %s on two pages", aws.ToString(ev.EventId))
			}
			seen[aws.ToString(ev.EventId)] = true
		}
	}
	for _, ev := range before {
		if !seen[aws.ToString(ev.EventId)] {
			t.Fatalf("paging missed event %s", aws.ToString(ev.EventId))
		}
	}
	// A time range that ends before everything finds nothing.
	out, err := ct.LookupEvents(ctx, &cloudtrail.LookupEventsInput{EndTime: aws.Time(time.Now().Add(-time.Hour))})
	if err != nil || len(out.Events) != 0 {
		t.Fatalf("old range: %v %v", out, err)
	}
	// Errors as the SDK's typed errors.
	_, err = ct.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String("a")},
		{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String("b")}}})
	var bad *cttypes.InvalidLookupAttributesException
	if !errors.As(err, &bad) {
		t.Fatalf("two attributes: %v", err)
	}
	_, err = ct.LookupEvents(ctx, &cloudtrail.LookupEventsInput{StartTime: aws.Time(time.Now()), EndTime: aws.Time(time.Now().Add(-time.Hour))})
	var tr *cttypes.InvalidTimeRangeException
	if !errors.As(err, &tr) {
		t.Fatalf("reversed range: %v", err)
	}
	_, err = ct.LookupEvents(ctx, &cloudtrail.LookupEventsInput{NextToken: aws.String("garbage!")})
	var nt *cttypes.InvalidNextTokenException
	if !errors.As(err, &nt) {
		t.Fatalf("bad token: %v", err)
	}
	// Who may look: cloudtrail:LookupEvents.
	_, err = cloudtrail.NewFromConfig(e.AWS(alice)).LookupEvents(ctx, &cloudtrail.LookupEventsInput{})
	if err == nil {
		t.Fatal("alice looked up events without a policy")
	}
}

// No secret access key or session token reaches the trail.
func TestNoSecretsInRecords(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	ctx := context.Background()
	creds := e.NewUser("bob", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	ic := iam.NewFromConfig(e.AWS(e.Admin))
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + accountOf(t, e) + `:root"},"Action":"sts:AssumeRole"}]}`
	if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(e.AWS(creds)).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + accountOf(t, e) + ":role/ops"), RoleSessionName: aws.String("audit-check")})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := e.Server.Store.ListEvents(ctx, store.EventQuery{})
	if err != nil || len(evs) == 0 {
		t.Fatal(err)
	}
	for _, secret := range []string{creds.SecretAccessKey, e.Admin.SecretAccessKey, aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken)} {
		for _, ev := range evs {
			if strings.Contains(ev.Body, secret) {
				t.Fatalf("a secret is in the %s record", ev.EventName)
			}
		}
	}
}

func accountOf(t *testing.T, e *tunneltest.Env) string {
	out, err := sts.NewFromConfig(e.AWS(e.Admin)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Account)
}
