package sqlstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// FuzzParseJournal: the record journal's reader (run by the open that
// replays a crash's leftovers) never panics on any file, claims no more
// of it than it holds, and reads back what the writer writes of the
// records it read.
func FuzzParseJournal(f *testing.F) {
	e := store.Event{EventID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", EventTime: time.UnixMicro(1765000000123456).UTC(),
		EventSource: "ec2.amazonaws.com", EventName: "DescribeInstanceConnectEndpoints", ReadOnly: true,
		Username: "admin", AccessKeyID: "AKIAEXAMPLE", RequestID: "r-1", Body: `{"eventVersion":"1.08"}`}
	one := appendFrame(nil, &e)
	f.Add(one)
	f.Add(append(append([]byte{}, one...), one[:len(one)/2]...)) // a torn second frame
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1})         // a length near 4 GiB
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, good := parseJournal(data)
		if good < 0 || good > len(data) {
			t.Fatalf("good %d of %d bytes", good, len(data))
		}
		var again []byte
		for i := range evs {
			again = appendFrame(again, &evs[i])
		}
		back, n := parseJournal(again)
		if n != len(again) || len(back) != len(evs) {
			t.Fatalf("re-encoded %d records read back as %d (%d of %d bytes)", len(evs), len(back), n, len(again))
		}
		for i := range evs {
			if !reflect.DeepEqual(back[i], evs[i]) {
				t.Fatalf("record %d: %+v read back as %+v", i, evs[i], back[i])
			}
		}
	})
}
