package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postern/postern/internal/server/sealer"
)

// TestReadJSONRefusesHostileBodies: the console's JSON bodies (sign-in,
// switch role, the identity-provider sign-in) are one object of known,
// distinct fields, bounded in size; anything else is InvalidInput (or
// RequestEntityTooLarge), never silently read with one of two values.
func TestReadJSONRefusesHostileBodies(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"valid", `{"userName":"ann","password":"pw"}`, http.StatusOK, ""},
		{"field twice", `{"userName":"ann","userName":"root","password":"pw"}`, http.StatusBadRequest, "InvalidInput"},
		{"field twice in another case", `{"userName":"ann","UserName":"root"}`, http.StatusBadRequest, "InvalidInput"},
		{"unknown field", `{"userName":"ann","admin":true}`, http.StatusBadRequest, "InvalidInput"},
		{"trailing data", `{"userName":"ann"} {"userName":"root"}`, http.StatusBadRequest, "InvalidInput"},
		{"null", `null`, http.StatusBadRequest, "InvalidInput"},
		{"array", `[]`, http.StatusBadRequest, "InvalidInput"},
		{"too large", `{"userName":"` + strings.Repeat("a", maxJSONBody) + `"}`, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/console/api/signin", strings.NewReader(tc.body))
			var in signInRequest
			ok := readJSON(w, r, &in)
			if tc.status == http.StatusOK {
				if !ok || in.UserName != "ann" {
					t.Fatalf("refused a valid body: %d %s", w.Code, w.Body)
				}
				return
			}
			var e apiError
			if ok || w.Code != tc.status || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Code != tc.code {
				t.Fatalf("ok=%v %d %s; want %d %s", ok, w.Code, w.Body, tc.status, tc.code)
			}
		})
	}
}

// TestOpenCookieRefusesOversizedValue: a cookie value longer than any
// browser keeps is not this server's; it is refused before it is
// decoded or decrypted, even when it is validly sealed.
func TestOpenCookieRefusesOversizedValue(t *testing.T) {
	s, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	c := &Console{cfg: Config{Sealer: s}}
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"usual", strings.Repeat("t", 600), true},
		{"oversized", strings.Repeat("t", 8192), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := sealState(s, cookieState{User: credRef{AccessKeyID: "ASIAEXAMPLE", Token: tc.token}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.openCookie(v)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, errCookieFormat)) {
				t.Fatalf("len %d: %v; want ok=%v", len(v), err, tc.ok)
			}
		})
	}
}
