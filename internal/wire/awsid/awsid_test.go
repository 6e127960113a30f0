package awsid

import (
	"regexp"
	"testing"
)

func TestShapes(t *testing.T) {
	tests := []struct {
		name string
		got  string
		re   string
	}{
		{"user", Unique(PrefixUser), `^AIDA[A-Z2-7]{17}$`},
		{"akid", AccessKeyID(PrefixAccessKey), `^AKIA[A-Z2-7]{16}$`},
		{"asia", AccessKeyID(PrefixTempAccessKey), `^ASIA[A-Z2-7]{16}$`},
		{"secret", SecretAccessKey(), `^[A-Za-z0-9+/]{40}$`},
		{"account", AccountID(), `^[1-9][0-9]{11}$`},
		{"eice", EC2("eice"), `^eice-[0-9a-f]{17}$`},
		{"token", SessionToken(), `^[A-Za-z0-9+/=]{100,}$`},
	}
	for _, tc := range tests {
		if !regexp.MustCompile(tc.re).MatchString(tc.got) {
			t.Errorf("%s: %q does not match %s", tc.name, tc.got, tc.re)
		}
	}
	if Unique(PrefixUser) == Unique(PrefixUser) {
		t.Error("ids repeat")
	}
}
