package awsproto

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The answers as WriteQueryResult and WriteEC2Result wrote them before
// their buffers were pooled: the pooled encoders must write the same
// bytes.
func refQueryResult(ns, action, requestID string, result any) string {
	var b strings.Builder
	b.WriteString(xmlHeader)
	fmt.Fprintf(&b, "<%sResponse xmlns=%q>\n", action, ns)
	if result != nil {
		enc := xml.NewEncoder(&b)
		_ = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
		_ = enc.Flush()
		b.WriteString("\n")
	}
	b.WriteString("<ResponseMetadata><RequestId>")
	xmlEscape(&b, requestID)
	fmt.Fprintf(&b, "</RequestId></ResponseMetadata>\n</%sResponse>\n", action)
	return b.String()
}

func refEC2Result(ns, action, requestID string, result any) string {
	var b strings.Builder
	b.WriteString(xmlHeader)
	fmt.Fprintf(&b, "<%sResponse xmlns=%q>\n    <requestId>", action, ns)
	xmlEscape(&b, requestID)
	b.WriteString("</requestId>\n")
	if result != nil {
		var inner strings.Builder
		_ = xml.NewEncoder(&inner).EncodeElement(result, xml.StartElement{Name: xml.Name{Local: "r"}})
		if s := strings.TrimSuffix(strings.TrimPrefix(inner.String(), "<r>"), "</r>"); s != "<r/>" && s != "" {
			b.WriteString("    ")
			b.WriteString(s)
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "</%sResponse>\n", action)
	return b.String()
}

type encUser struct {
	UserName string `xml:"UserName"`
	Arn      string `xml:"Arn"`
	Tags     []struct {
		Key, Value string
	} `xml:"Tags>member"`
}

type encEndpoints struct {
	Set []encUser `xml:"instanceConnectEndpointSet>item"`
}

// TestPooledResultsMatch: the query and EC2 answers are byte for byte
// what the unpooled encoders wrote, for empty, small, escaped and large
// results, from concurrent writers (the buffers are shared through a
// pool), and a large answer's buffer does not stay in the pool.
func TestPooledResultsMatch(t *testing.T) {
	big := encEndpoints{}
	for i := range 2000 {
		big.Set = append(big.Set, encUser{UserName: fmt.Sprintf("user-%d", i), Arn: "arn:aws:iam::123456789012:user/u"})
	}
	results := []struct {
		name   string
		result any
	}{
		{"nil", nil},
		{"empty", struct{}{}},
		{"user", encUser{UserName: "bob", Arn: "arn:aws:iam::123456789012:user/bob"}},
		{"escaped", encUser{UserName: `<&"'>`, Tags: []struct{ Key, Value string }{{"k", "v&w"}}}},
		{"empty set", encEndpoints{}},
		{"large", big},
	}
	var wg sync.WaitGroup
	for _, r := range results {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("req-<%d>&", w)
				rec := httptest.NewRecorder()
				if err := WriteQueryResult(rec, "https://iam.amazonaws.com/doc/2010-05-08/", "GetUser", id, r.result); err != nil {
					t.Errorf("%s: WriteQueryResult: %v", r.name, err)
					return
				}
				if want := refQueryResult("https://iam.amazonaws.com/doc/2010-05-08/", "GetUser", id, r.result); rec.Body.String() != want {
					t.Errorf("%s: query answer\n%s\nwant\n%s", r.name, rec.Body.String(), want)
				}
				if rec.Code != http.StatusOK || rec.Header().Get("Content-Length") != fmt.Sprint(rec.Body.Len()) {
					t.Errorf("%s: status %d, Content-Length %q for %d bytes", r.name, rec.Code, rec.Header().Get("Content-Length"), rec.Body.Len())
				}
				rec = httptest.NewRecorder()
				if err := WriteEC2Result(rec, "http://ec2.amazonaws.com/doc/2016-11-15/", "DescribeInstanceConnectEndpoints", id, r.result); err != nil {
					t.Errorf("%s: WriteEC2Result: %v", r.name, err)
					return
				}
				if want := refEC2Result("http://ec2.amazonaws.com/doc/2016-11-15/", "DescribeInstanceConnectEndpoints", id, r.result); rec.Body.String() != want {
					t.Errorf("%s: EC2 answer\n%s\nwant\n%s", r.name, rec.Body.String(), want)
				}
			}()
		}
	}
	wg.Wait()

	// An encoding error leaves nothing behind in the pooled buffer.
	rec := httptest.NewRecorder()
	if err := WriteQueryResult(rec, "ns", "Bad", "id", map[string]string{"a": "b"}); err == nil {
		t.Fatal("encoding a map succeeded")
	}
	rec = httptest.NewRecorder()
	if err := WriteQueryResult(rec, "ns", "GetUser", "id", encUser{UserName: "after"}); err != nil || rec.Body.String() != refQueryResult("ns", "GetUser", "id", encUser{UserName: "after"}) {
		t.Errorf("after an encoding error: %v\n%s", err, rec.Body.String())
	}

	r := getRespBuf()
	r.body.Grow(maxPooledBody + 1)
	putRespBuf(r)
	for range 8 {
		if got := getRespBuf(); got == r {
			t.Fatal("a buffer larger than maxPooledBody went back to the pool")
		}
	}
}

// The allocation-free writing of the response's opening tag and request
// id gives what fmt and xml.EscapeText gave, for plain and escaped ids
// and namespaces.
func TestResponseFramingMatches(t *testing.T) {
	tests := []struct{ name, ns, id string }{
		{"uuid", "https://sts.amazonaws.com/doc/2011-06-15/", "0f3c5a52-4b1e-4c83-9d61-6a8f0e2b7c11"},
		{"escaped id", "ns", `a<b>&"c'`},
		{"control and non-ASCII id", "ns", "a\tb\x01ü\xff"},
		{"empty id", "", ""},
		{"quoted namespace", "n\"s\\é\x00", "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := WriteQueryResult(rec, tc.ns, "GetCallerIdentity", tc.id, encUser{UserName: "u"}); err != nil {
				t.Fatal(err)
			}
			if want := refQueryResult(tc.ns, "GetCallerIdentity", tc.id, encUser{UserName: "u"}); rec.Body.String() != want {
				t.Fatalf("query answer\n%q\nwant\n%q", rec.Body.String(), want)
			}
			rec = httptest.NewRecorder()
			if err := WriteEC2Result(rec, tc.ns, "DescribeInstanceConnectEndpoints", tc.id, encEndpoints{}); err != nil {
				t.Fatal(err)
			}
			if want := refEC2Result(tc.ns, "DescribeInstanceConnectEndpoints", tc.id, encEndpoints{}); rec.Body.String() != want {
				t.Fatalf("EC2 answer\n%q\nwant\n%q", rec.Body.String(), want)
			}
		})
	}
}

// failing is a result whose encoding fails after its first element has
// been opened and written: the encoder is left mid-element.
type failing struct {
	A string `xml:"a"`
	B any    `xml:"b"`
}

// TestFailedEncoderIsNotReused: an encoder that failed mid-element does
// not go back to the pool, and the answers after it are still exact.
func TestFailedEncoderIsNotReused(t *testing.T) {
	r := getRespBuf()
	if err := r.encode(failing{A: "x", B: map[string]string{"k": "v"}}, "r"); err == nil {
		t.Fatal("encoding a map succeeded")
	}
	putRespBuf(r)
	for range 8 {
		got := getRespBuf()
		if got == r {
			t.Fatal("a buffer whose encoder failed went back to the pool")
		}
		defer putRespBuf(got)
	}
	for range 3 {
		rec := httptest.NewRecorder()
		if err := WriteQueryResult(rec, "ns", "GetUser", "id", failing{A: "y"}); err != nil {
			t.Fatal(err)
		}
		if want := refQueryResult("ns", "GetUser", "id", failing{A: "y"}); rec.Body.String() != want {
			t.Fatalf("after a failed encoding:\n%s\nwant\n%s", rec.Body.String(), want)
		}
	}
}

// TestAnswerHeaders: the headers of an answer are what three Header.Set
// calls gave (same canonical names and values), each value on its own
// (adding to one leaves the others alone).
func TestAnswerHeaders(t *testing.T) {
	writers := []struct {
		name        string
		write       func(w http.ResponseWriter)
		contentType string
		status      int
	}{
		{"query result", func(w http.ResponseWriter) { _ = WriteQueryResult(w, "ns", "GetUser", "rid-1", encUser{UserName: "u"}) }, "text/xml", 200},
		{"EC2 result", func(w http.ResponseWriter) { _ = WriteEC2Result(w, "ns", "DescribeVpcs", "rid-1", encEndpoints{}) }, "text/xml;charset=UTF-8", 200},
		{"JSON result", func(w http.ResponseWriter) { _ = WriteJSONResult(w, "rid-1", map[string]int{"a": 1}) }, "application/x-amz-json-1.1", 200},
		{"query error", func(w http.ResponseWriter) { WriteQueryError(w, "ns", "rid-1", MissingParameter("X")) }, "text/xml", 400},
		{"EC2 error", func(w http.ResponseWriter) { WriteEC2Error(w, "rid-1", InternalError()) }, "text/xml;charset=UTF-8", 500},
	}
	for _, tc := range writers {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.write(rec)
			want := http.Header{}
			want.Set("Content-Type", tc.contentType)
			want.Set("Content-Length", fmt.Sprint(rec.Body.Len()))
			want.Set("x-amzn-RequestId", "rid-1")
			got := rec.Result().Header
			if rec.Code != tc.status || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("status %d, headers %v; want %d, %v", rec.Code, got, tc.status, want)
			}
			h := rec.Header()
			h.Add("Content-Type", "extra")
			if h.Get("Content-Length") != fmt.Sprint(rec.Body.Len()) || h.Get("X-Amzn-Requestid") != "rid-1" || len(h["Content-Length"]) != 1 {
				t.Fatalf("adding a value changed the others: %v", h)
			}
		})
	}
}

// fastUser is encUser written by hand (XMLChildren); an empty fastUser
// has no children at all, as struct{}{} has none.
type fastUser struct {
	u     encUser
	empty bool
}

func (f fastUser) AppendXMLChildren(b []byte) []byte {
	if f.empty {
		return b
	}
	b = AppendXMLElement(b, "UserName", f.u.UserName)
	b = AppendXMLElement(b, "Arn", f.u.Arn)
	b = append(b, "<Tags>"...)
	for _, t := range f.u.Tags {
		b = append(b, "<member>"...)
		b = AppendXMLElement(b, "Key", t.Key)
		b = AppendXMLElement(b, "Value", t.Value)
		b = append(b, "</member>"...)
	}
	return append(b, "</Tags>"...)
}

// xmlTexts are strings encoding/xml escapes in every way it knows.
var xmlTexts = []string{"", "plain", `<&"'>`, "tab\tnl\ncr\r", "ctl\x01\x1f", "é ü 日本", "bad\xffutf8", "\uFFFD", "\U0010FFFF\uFFFE", strings.Repeat("x&", 300)}

// TestXMLChildrenAnswers: an answer whose result writes its own children
// is byte for byte the answer encoding/xml gives for the same fields,
// query and EC2 forms, with and without children, from pooled buffers.
func TestXMLChildrenAnswers(t *testing.T) {
	type tag = struct{ Key, Value string }
	cases := []struct {
		name string
		fast fastUser
		ref  any
	}{
		{"no children", fastUser{empty: true}, struct{}{}},
		{"no tags", fastUser{u: encUser{UserName: "bob", Arn: "arn:aws:iam::123456789012:user/bob"}}, encUser{UserName: "bob", Arn: "arn:aws:iam::123456789012:user/bob"}},
	}
	for i, s := range xmlTexts {
		u := encUser{UserName: s, Arn: xmlTexts[(i+1)%len(xmlTexts)], Tags: []tag{{s, "v"}, {"k", s}}}
		cases = append(cases, struct {
			name string
			fast fastUser
			ref  any
		}{fmt.Sprintf("text %d", i), fastUser{u: u}, u})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 { // pooled buffers, reused
				rec := httptest.NewRecorder()
				if err := WriteQueryResult(rec, "ns", "GetUser", "rid", tc.fast); err != nil {
					t.Fatal(err)
				}
				if want := refQueryResult("ns", "GetUser", "rid", tc.ref); rec.Body.String() != want {
					t.Fatalf("query answer\n%q\nwant\n%q", rec.Body.String(), want)
				}
				rec = httptest.NewRecorder()
				if err := WriteEC2Result(rec, "ns", "DescribeX", "rid", tc.fast); err != nil {
					t.Fatal(err)
				}
				if want := refEC2Result("ns", "DescribeX", "rid", tc.ref); rec.Body.String() != want {
					t.Fatalf("EC2 answer\n%q\nwant\n%q", rec.Body.String(), want)
				}
			}
		})
	}
}

// TestAppendXMLText: AppendXMLText, AppendXMLElement and AppendXMLBool
// write what encoding/xml writes for a string or bool field.
func TestAppendXMLText(t *testing.T) {
	for _, s := range xmlTexts {
		var want strings.Builder
		_ = xml.EscapeText(&want, []byte(s))
		if got := string(AppendXMLText([]byte("pre"), s)); got != "pre"+want.String() {
			t.Errorf("AppendXMLText(%q) = %q, want %q", s, got, "pre"+want.String())
		}
		el, _ := xml.Marshal(struct {
			XMLName xml.Name `xml:"r"`
			S       string   `xml:"s"`
			B       bool     `xml:"b"`
			F       bool     `xml:"f"`
		}{S: s, B: true})
		got := "<r>" + string(AppendXMLBool(AppendXMLBool(AppendXMLElement(nil, "s", s), "b", true), "f", false)) + "</r>"
		if got != string(el) {
			t.Errorf("elements of %q = %q, want %q", s, got, el)
		}
	}
}
