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
