package api

import (
	"testing"

	"github.com/postern/postern/internal/wire/awsproto"
)

func TestRequestParametersHideSecrets(t *testing.T) {
	got := requestParameters(&callRecord{params: awsproto.Params{"Action": {"X"}, "Version": {"1"}, "UserName": {"bob"},
		"Password": {"hunter2"}, "NewPassword": {"x"}, "SessionToken": {"t"}, "Tag.1.Key": {"a"}}}).(map[string]any)
	want := map[string]any{"UserName": "bob", "Password": hiddenValue, "NewPassword": hiddenValue, "SessionToken": hiddenValue, "Tag.1.Key": "a"}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	js := requestParameters(&callRecord{body: []byte(`{"InstanceId":"i-1","PrivateKey":"-----BEGIN"}`)}).(map[string]any)
	if js["PrivateKey"] != hiddenValue || js["InstanceId"] != "i-1" {
		t.Fatalf("%v", js)
	}
	if requestParameters(&callRecord{}) != nil {
		t.Fatal("no parameters should be null")
	}
}
