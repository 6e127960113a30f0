package api

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadBody: readBody returns what io.ReadAll of at most max+1 bytes
// returned, for bodies of declared length (read into one buffer), of no
// declared length, too long, shorter and longer than declared.
func TestReadBody(t *testing.T) {
	const max = 16
	tests := []struct {
		name    string
		body    string
		length  int64 // Content-Length; -1 unknown
		want    string
		wantErr error
	}{
		{"declared length", "Action=GetUser", 14, "Action=GetUser", nil},
		{"empty", "", 0, "", nil},
		{"no declared length", "Action=GetUser", -1, "Action=GetUser", nil},
		{"no declared length, too long", strings.Repeat("x", 40), -1, strings.Repeat("x", max+1), nil},
		{"declared too long", strings.Repeat("x", 40), 40, strings.Repeat("x", max+1), nil},
		{"exactly max", strings.Repeat("x", max), max, strings.Repeat("x", max), nil},
		{"shorter than declared", "Action", 14, "", io.ErrUnexpectedEOF},
		{"longer than declared", "Action=GetUserAndMore", 6, "Action=GetUserAnd", nil},
		{"longer than declared, within max", "Action=Get", 6, "Action=Get", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.ContentLength = tc.length
			r.Body = io.NopCloser(strings.NewReader(tc.body))
			got, err := readBody(r, max)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("readBody = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
