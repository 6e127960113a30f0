package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestQuery: --query evaluates JMESPath as the AWS CLI does, keeping the
// response's member order, the expression's order for the objects it
// builds, and the AWS CLI's reading of non-JSON backtick literals.
func TestQuery(t *testing.T) {
	const doc = `{"Reservations": [{"OwnerId": "1", "Instances": [
		{"InstanceId": "i-1", "State": {"Code": 16, "Name": "running"}, "LaunchTime": "2026-01-01T00:00:00+00:00", "Tags": [{"Key": "Name", "Value": "web"}]},
		{"InstanceId": "i-2", "State": {"Code": 80, "Name": "stopped"}, "Tags": [{"Key": "Name", "Value": "db"}, {"Key": "team", "Value": "ops"}]},
		{"InstanceId": "i-3", "State": {"Code": 16, "Name": "running"}, "Price": 0.25}]}]}`
	tests := []struct {
		name, expr, want string // want: the result as --output json prints it, compact
		err              bool
	}{
		{"field", "Reservations[0].OwnerId", `"1"`, false},
		{"projection", "Reservations[].Instances[].InstanceId", `["i-1","i-2","i-3"]`, false},
		{"object keeps the response's order", "Reservations[0].Instances[0].State", `{"Code":16,"Name":"running"}`, false},
		{"multi-select hash in the expression's order", "Reservations[].Instances[].{Zid: InstanceId, A: State.Name}", `[{"Zid":"i-1","A":"running"},{"Zid":"i-2","A":"stopped"},{"Zid":"i-3","A":"running"}]`, false},
		{"multi-select list", "Reservations[].Instances[].[InstanceId, State.Code]", `[["i-1",16],["i-2",80],["i-3",16]]`, false},
		{"filter with JSON literal", "Reservations[].Instances[?State.Code==`16`].InstanceId", `[["i-1","i-3"]]`, false},
		{"filter with raw string", "Reservations[].Instances[?State.Name=='stopped'].InstanceId | []", `["i-2"]`, false},
		{"legacy literal as AWS's examples write it", "Reservations[].Instances[?State.Name==`running`].InstanceId | []", `["i-1","i-3"]`, false},
		{"legacy literal in a nested filter", "Reservations[].Instances[].Tags[?Key==`Name`].Value[]", `["web","db"]`, false},
		{"length", "length(Reservations[0].Instances)", `3`, false},
		{"float kept", "Reservations[0].Instances[2].Price", `0.25`, false},
		{"sort_by and pipe", "sort_by(Reservations[0].Instances, &State.Code)[-1].InstanceId", `"i-2"`, false},
		{"contains", "Reservations[0].Instances[?contains(InstanceId, 'i-')] | length(@)", `3`, false},
		{"missing member is null", "Reservations[0].Nothing", `null`, false},
		{"flatten", "Reservations[].Instances[][].State.Name", `["running","stopped","running"]`, false},
		{"unterminated", "Reservations[", "", true},
		{"bad token", "Reservations[0]..x", "", true},
		{"unterminated literal", "Reservations[?a==`x]", "", true},
	}
	in, err := fromJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := compileQuery(tc.expr)
			if tc.err {
				if err == nil {
					t.Fatalf("%q: compiled; want an error", tc.expr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%q: %v", tc.expr, err)
			}
			got, err := q.search(in)
			if err != nil {
				t.Fatalf("%q: %v", tc.expr, err)
			}
			var b bytes.Buffer
			writeJSON(&b, got, 0)
			compact := strings.NewReplacer("\n", "", " ", "").Replace(b.String())
			if compact != tc.want {
				t.Fatalf("%q = %s, want %s", tc.expr, compact, tc.want)
			}
		})
	}
}
