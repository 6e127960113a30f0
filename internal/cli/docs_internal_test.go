package cli

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestDecodeServiceDocs: decoding one service's part of docs.json gives
// exactly what decoding the whole file gives for it, for every service in
// the file and for a file of another layout (compact JSON); an unknown
// service has no docs.
func TestDecodeServiceDocs(t *testing.T) {
	var whole map[string]map[string]opDoc
	if err := json.Unmarshal(docsJSON, &whole); err != nil {
		t.Fatalf("docs.json: %v", err)
	}
	if len(whole) == 0 {
		t.Fatal("docs.json describes no service")
	}
	compact, err := json.Marshal(whole)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []struct {
		name string
		b    []byte
	}{{"docs.json", docsJSON}, {"compact", compact}} {
		for svc, want := range whole {
			t.Run(file.name+"/"+svc, func(t *testing.T) {
				got := decodeServiceDocs(file.b, svc)
				if len(want) == 0 || !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %d operations decoded, want %d, the same as the whole file's", svc, len(got), len(want))
				}
			})
		}
		if got := decodeServiceDocs(file.b, "no-such-service"); got != nil {
			t.Errorf("%s: an unknown service has docs: %v", file.name, got)
		}
	}
}
