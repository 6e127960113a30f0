package frontdoor_test

import (
	"context"
	"testing"

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
