package sigv4

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The captures in testdata/captures are described in docs/aws-compat.md §7:
// requests recorded from the real AWS CLI v2, AWS SDK for Go v2 and AWS SDK
// for JavaScript v3, signed with these example credentials.
const (
	capAKID    = "AKIAIOSFODNN7EXAMPLE"
	capSecret  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	capToken   = "FwoGZXIvYXdzEXAMPLE/token+with=chars"
	capBlockRe = `^=== \[(\d+)\] (GET|POST) request from`
)

type captured struct {
	file string
	n    string
	req  *http.Request
	body []byte
	date time.Time
}

// loadCaptures rebuilds every recorded request as an *http.Request.
func loadCaptures(t testing.TB) []captured {
	t.Helper()
	files, err := filepath.Glob("testdata/captures/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no capture files in testdata/captures: %v", err)
	}
	start := regexp.MustCompile(capBlockRe)
	var out []captured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for i := 0; i < len(lines); i++ {
			m := start.FindStringSubmatch(lines[i])
			if m == nil {
				continue
			}
			// Request line, headers, blank line, body.
			j := i + 1
			reqLine := strings.Fields(lines[j])
			if len(reqLine) != 3 {
				t.Fatalf("%s block %s: bad request line %q", f, m[1], lines[j])
			}
			hdr := http.Header{}
			host := ""
			for j++; j < len(lines) && lines[j] != ""; j++ {
				k, v, ok := strings.Cut(lines[j], ": ")
				if !ok {
					t.Fatalf("%s block %s: bad header %q", f, m[1], lines[j])
				}
				if strings.EqualFold(k, "Host") {
					host = v
					continue
				}
				hdr[k] = append(hdr[k], v) // keep the wire casing
			}
			rest := strings.Join(lines[j+1:], "\n")
			var body []byte
			if cl := headerFold(hdr, "Content-Length"); cl != "" {
				n, _ := strconv.Atoi(cl)
				if n > len(rest) {
					t.Fatalf("%s block %s: body shorter than Content-Length", f, m[1])
				}
				body = []byte(rest[:n])
			}
			u, err := url.ParseRequestURI(reqLine[1])
			if err != nil {
				t.Fatal(err)
			}
			r := &http.Request{Method: reqLine[0], URL: u, Host: host, Header: canonicalHeader(hdr), ContentLength: int64(len(body))}
			amz := headerFold(hdr, "X-Amz-Date")
			if amz == "" {
				amz = u.Query().Get("X-Amz-Date")
			}
			d, err := time.Parse(timeFormat, amz)
			if err != nil {
				t.Fatalf("%s block %s: date %q", f, m[1], amz)
			}
			out = append(out, captured{file: filepath.Base(f), n: m[1], req: r, body: body, date: d})
			i = j
		}
	}
	return out
}

func headerFold(h http.Header, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// canonicalHeader rebuilds the header map as net/http's server would.
func canonicalHeader(h http.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		for _, v := range vs {
			out.Add(k, v)
		}
	}
	return out
}

func captureVerifier(now time.Time) *Verifier {
	return &Verifier{
		Now: func() time.Time { return now },
		Lookup: func(_ context.Context, akid, token string) (Credential, error) {
			if akid != capAKID {
				return Credential{}, &Error{Reason: ReasonUnknownKey, Message: "unknown"}
			}
			if token != "" && token != capToken {
				return Credential{}, &Error{Reason: ReasonInvalidToken, Message: "bad token"}
			}
			return Credential{SecretAccessKey: capSecret}, nil
		},
		Regions: []string{"us-east-1"},
	}
}

// TestCaptures verifies every signed request the real clients sent: all
// 42 header-signed POSTs (Go 16, JS 7, CLI 19) and all 9 presigned
// openTunnel URLs.
func TestCaptures(t *testing.T) {
	caps := loadCaptures(t)
	posts, gets := map[string]int{}, 0
	for _, c := range caps {
		v := captureVerifier(c.date.Add(30 * time.Second))
		res, err := v.Verify(context.Background(), c.req, c.body)
		if err != nil {
			t.Errorf("%s [%s] %s %s: %v", c.file, c.n, c.req.Method, c.req.URL.Path, err)
			continue
		}
		if c.req.Method == "GET" {
			gets++
			if !res.Presigned || res.Service != "ec2-instance-connect" {
				t.Errorf("%s [%s]: result %+v", c.file, c.n, res)
			}
			continue
		}
		ua := headerFold(c.req.Header, "User-Agent")
		switch {
		case strings.HasPrefix(ua, "aws-sdk-go-v2"):
			posts["go"]++
		case strings.HasPrefix(ua, "aws-cli"):
			posts["cli"]++
		default:
			posts["js"]++
		}
	}
	// docs/aws-compat.md §7 counts 42 header-signed POSTs (Go 16, JS 7, CLI 19)
	// and 9 presigned URLs; counted by User-Agent here, one CLI capture
	// carries a Go SDK agent, so only the totals are asserted.
	if total := posts["go"] + posts["js"] + posts["cli"]; total != 42 || gets != 9 || posts["js"] != 7 {
		t.Errorf("verified go=%d js=%d cli=%d presigned=%d, want 42 POSTs (7 JS) and 9 presigned", posts["go"], posts["js"], posts["cli"], gets)
	}
}

// TestCaptureTampering changes each signed part of recorded requests and
// expects a failure; an unsigned header may change freely.
func TestCaptureTampering(t *testing.T) {
	caps := loadCaptures(t)
	var post, get *captured
	for i := range caps {
		c := &caps[i]
		if c.req.Method == "POST" && post == nil && strings.Contains(headerFold(c.req.Header, "Authorization"), "amz-sdk-invocation-id") {
			post = c
		}
		if c.req.Method == "GET" && get == nil {
			get = c
		}
	}
	if post == nil || get == nil {
		t.Fatal("captures lack a Go SDK POST or a presigned GET")
	}
	clone := func(c *captured) (*http.Request, []byte) {
		r := c.req.Clone(context.Background())
		u := *c.req.URL
		r.URL = &u
		return r, append([]byte(nil), c.body...)
	}
	tests := []struct {
		name   string
		base   *captured
		mutate func(r *http.Request, body *[]byte)
		want   Reason // 0 = must still verify
	}{
		{"post unchanged", post, func(*http.Request, *[]byte) {}, 0},
		{"post unsigned header", post, func(r *http.Request, _ *[]byte) { r.Header.Set("User-Agent", "other") }, 0},
		{"post method", post, func(r *http.Request, _ *[]byte) { r.Method = "PUT" }, ReasonSignatureMismatch},
		{"post path", post, func(r *http.Request, _ *[]byte) { r.URL.Path = "/x" }, ReasonSignatureMismatch},
		{"post query", post, func(r *http.Request, _ *[]byte) { r.URL.RawQuery = "a=b" }, ReasonSignatureMismatch},
		{"post host", post, func(r *http.Request, _ *[]byte) { r.Host = "127.0.0.1:9999" }, ReasonSignatureMismatch},
		{"post body", post, func(_ *http.Request, b *[]byte) { (*b)[len(*b)-1] ^= 1 }, ReasonSignatureMismatch},
		{"post invocation id", post, func(r *http.Request, _ *[]byte) { r.Header.Set("Amz-Sdk-Invocation-Id", "x") }, ReasonSignatureMismatch},
		{"post content type", post, func(r *http.Request, _ *[]byte) { r.Header.Set("Content-Type", "text/plain") }, ReasonSignatureMismatch},
		{"post date", post, func(r *http.Request, _ *[]byte) {
			d := r.Header.Get("X-Amz-Date")
			r.Header.Set("X-Amz-Date", d[:len(d)-3]+"59Z")
		}, ReasonSignatureMismatch},
		{"post region", post, func(r *http.Request, _ *[]byte) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", "/us-west-2/", 1))
		}, ReasonWrongScope},
		{"post service", post, func(r *http.Request, _ *[]byte) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/ec2/", "/iam/", 1))
		}, ReasonSignatureMismatch},
		{"post unknown key", post, func(r *http.Request, _ *[]byte) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), capAKID, "AKIAOTHER00000000000", 1))
		}, ReasonUnknownKey},
		{"post no auth", post, func(r *http.Request, _ *[]byte) { r.Header.Del("Authorization") }, ReasonMissingAuth},
		{"post signature cut", post, func(r *http.Request, _ *[]byte) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
		}, ReasonIncomplete},
		{"get unchanged", get, func(*http.Request, *[]byte) {}, 0},
		{"get port", get, func(r *http.Request, _ *[]byte) {
			q := r.URL.Query()
			q.Set("remotePort", "3389")
			r.URL.RawQuery = q.Encode()
		}, ReasonSignatureMismatch},
		{"get ip", get, func(r *http.Request, _ *[]byte) {
			q := r.URL.Query()
			q.Set("privateIpAddress", "10.0.0.1")
			r.URL.RawQuery = q.Encode()
		}, ReasonSignatureMismatch},
		{"get host", get, func(r *http.Request, _ *[]byte) { r.Host = "evil" }, ReasonSignatureMismatch},
		{"get expires", get, func(r *http.Request, _ *[]byte) {
			q := r.URL.Query()
			q.Set("X-Amz-Expires", "3600")
			r.URL.RawQuery = q.Encode()
		}, ReasonSignatureMismatch},
		{"get signature", get, func(r *http.Request, _ *[]byte) {
			q := r.URL.Query()
			s := q.Get("X-Amz-Signature")
			q.Set("X-Amz-Signature", "0"+s[1:])
			r.URL.RawQuery = q.Encode()
		}, ReasonSignatureMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, body := clone(tc.base)
			tc.mutate(r, &body)
			if tc.name == "get signature" && strings.HasPrefix(tc.base.req.URL.Query().Get("X-Amz-Signature"), "0") {
				t.Skip("signature already starts with 0")
			}
			_, err := captureVerifier(tc.base.date.Add(time.Second)).Verify(context.Background(), r, body)
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			se, ok := err.(*Error)
			if !ok || se.Reason != tc.want {
				t.Fatalf("got %v, want reason %d", err, tc.want)
			}
		})
	}
}

func TestCaptureScanner(t *testing.T) {
	// The capture format starts blocks with "=== [N] METHOD request from".
	sc := bufio.NewScanner(strings.NewReader("=== [1] POST request from 127.0.0.1:1 at x (TLS=true)\n"))
	sc.Scan()
	if !regexp.MustCompile(capBlockRe).MatchString(sc.Text()) {
		t.Fatal("block regexp does not match")
	}
}
