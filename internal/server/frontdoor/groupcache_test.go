package frontdoor_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestGroupChangesSeenByNextOpen: the front door keeps security-group
// answers between opens, and a rule revoked or authorized through the EC2
// API decides the very next open.
func TestGroupChangesSeenByNextOpen(t *testing.T) {
	e := startAll(t)
	echo := tunneltest.Echo(t)
	ctx := context.Background()
	d := e.Dialer(e.Admin)
	c := e.EC2(e.Admin)
	group := e.Server.Local.GroupID
	open := func(t *testing.T) error {
		t.Helper()
		tun, err := d.Dial(ctx, e.Local(echo.Port))
		if err == nil {
			roundTrip(t, tun, "through the groups")
			tun.Close()
		}
		return err
	}
	steps := []struct {
		name   string
		change func(t *testing.T)
		// refused is the part of the refusal's message; "" = opens.
		refused string
	}{
		{"every egress allowed", func(*testing.T) {}, ""},
		{"egress revoked", func(t *testing.T) { revokeAllEgress(t, c, group) }, "do not allow outbound"},
		{"egress to the port authorized", func(t *testing.T) { authorize(t, c, group, true, "127.0.0.0/8", int32(echo.Port)) }, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change(t)
			for range 2 { // the second open is answered from the cache
				err := open(t)
				if st.refused == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					continue
				}
				wantRefusal(t, err, 403, "AccessDeniedException", st.refused)
			}
		})
	}
}

// TestEndpointChangesSeenByNextOpen: the front door keeps the endpoint it
// read between opens, and a change of it through the EC2 API (here its
// tags, which an IAM condition reads) decides the very next open.
func TestEndpointChangesSeenByNextOpen(t *testing.T) {
	e := startAll(t)
	echo := tunneltest.Echo(t)
	ctx := context.Background()
	prodOnly := e.NewUser("prod-only", policy(`{"StringEquals":{"aws:ResourceTag/env":"prod"}}`))
	d := e.Dialer(prodOnly)
	c := e.EC2(e.Admin)
	ep := e.Server.Local.EndpointID
	steps := []struct {
		name   string
		change func(t *testing.T)
		// refused is the part of the refusal's message; "" = opens.
		refused string
	}{
		{"untagged", func(*testing.T) {}, "not authorized"},
		{"tagged env=prod", func(t *testing.T) {
			if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{ep},
				Tags: []ec2types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"tag removed", func(t *testing.T) {
			if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{ep},
				Tags: []ec2types.Tag{{Key: aws.String("env")}}}); err != nil {
				t.Fatal(err)
			}
		}, "not authorized"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change(t)
			for range 2 { // the second open is answered from the cache
				tun, err := d.Dial(ctx, e.Local(echo.Port))
				if st.refused == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					roundTrip(t, tun, "tagged")
					tun.Close()
					continue
				}
				wantRefusal(t, err, 403, "AccessDeniedException", st.refused)
			}
		})
	}
}
