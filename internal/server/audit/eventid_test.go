package audit

import (
	"testing"

	"github.com/google/uuid"
)

// A record made without an EventID gets a new UUID of version 7: the ids
// of successive records, of every kind, ascend (the store's index on the
// id grows at its end), each is a well-formed RFC 9562 UUID in
// CloudTrail's text form, and none repeats. A given EventID is kept.
func TestEventIDsAscend(t *testing.T) {
	m := meta(user(), "")
	makers := []struct {
		name string
		make func() Record
	}{
		{"api call", func() Record {
			return APICall(m, "sts.amazonaws.com", "GetCallerIdentity", true, nil, nil, "", "", "", "")
		}},
		{"open tunnel", func() Record { return OpenTunnel(m, params, eiceARN, OpenTunnelData{}, "", "") }},
		{"close tunnel", func() Record { return CloseTunnel(m, CloseDetails{TunnelID: "tnl-1"}, eiceARN) }},
	}
	const n = 3000 // more than one millisecond's worth, within one
	seen := make(map[string]bool, n)
	prev := ""
	for i := range n {
		mk := makers[i%len(makers)]
		id := mk.make().EventID
		u, err := uuid.Parse(id)
		if err != nil || u.String() != id {
			t.Fatalf("%s record %d: event id %q is not a UUID in canonical form (%v)", mk.name, i, id, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("%s record %d: event id %s is version %d, variant %s; want 7, RFC 4122", mk.name, i, id, u.Version(), u.Variant())
		}
		if id <= prev {
			t.Fatalf("%s record %d: event id %s does not follow %s", mk.name, i, id, prev)
		}
		if seen[id] {
			t.Fatalf("event id %s repeated", id)
		}
		seen[id], prev = true, id
	}
	const given = "11111111-2222-3333-4444-55555555555d"
	if got := APICall(meta(user(), given), "sts.amazonaws.com", "GetCallerIdentity", true, nil, nil, "", "", "", "").EventID; got != given {
		t.Fatalf("the given event id became %q", got)
	}
}
