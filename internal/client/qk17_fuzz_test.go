package client

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadRefusal feeds readRefusal, which reads the server's HTTP answer
// to a refused upgrade, arbitrary bytes, and the answers a server writes.
// Properties: it never panics; the status is the one given; nothing but
// the status is set when no HTTP response could be read; the message is
// bounded by the 64 KiB it reads; an AWS-style JSON body ({"ErrorCode",
// "Message"}) with x-amzn-RequestId reads back as sent, and a body that is
// not JSON reads back, trimmed, as the message.
func FuzzReadRefusal(f *testing.F) {
	f.Add(403, []byte("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nx-amzn-RequestId: 0f4c2a9e\r\nContent-Length: 52\r\n\r\n{\"ErrorCode\":\"AccessDeniedException\",\"Message\":\"no\"}"),
		"AccessDeniedException", "presigned URL used already", "0f4c2a9e-1d2b-4c7e-9a51-6d1f1d7e2b10", false)
	f.Add(400, []byte("HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), "", "not json: plain text", "r", true)
	f.Add(502, []byte("HTTP/1.0 502 Bad Gateway\r\n\r\n<html>bad gateway</html>\n"), "", "  {\"Message\":  ", "", true)
	f.Add(429, []byte("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 99\r\n\r\n{\"ErrorCode\":1}"), "ThrottlingException", "", "x-1", false)
	f.Add(0, []byte(""), "", "", "", false)
	f.Add(-1, []byte("garbage\r\n\r\n"), "\xff", "\x00", "a b", false)
	f.Fuzz(func(t *testing.T, status int, raw []byte, code, msg, reqID string, plain bool) {
		e := readRefusal(status, bytes.NewReader(raw))
		if e.Status != status {
			t.Fatalf("readRefusal(%d, %q) status %d", status, raw, e.Status)
		}
		if e.Header == nil && (e.RequestID != "" || e.ErrorCode != "" || e.Message != "") {
			t.Fatalf("readRefusal(%q): no response read, yet %+v", raw, e)
		}
		if len(e.Message) > 64<<10 || len(e.ErrorCode) > 64<<10 {
			t.Fatalf("readRefusal(%q) read past 64 KiB: message %d bytes", raw, len(e.Message))
		}

		// What a server writes: a JSON body, or (plain) text.
		hdr := http.Header{"Content-Type": {"application/json"}}
		if validToken(reqID) {
			hdr.Set("x-amzn-RequestId", reqID)
		}
		body, _ := json.Marshal(map[string]string{"ErrorCode": code, "Message": msg})
		isJSON := true
		if plain || !utf8.ValidString(code) || !utf8.ValidString(msg) || code == "" && msg == "" {
			// A proxy's text answer. (Marshal replaces bad UTF-8; both
			// members empty reads as text.)
			body, isJSON = []byte(msg), false
			if json.Valid(body) {
				return // some other JSON: what it means is the decoder's
			}
		}
		if len(body) > 64<<10 {
			return
		}
		var wire bytes.Buffer
		resp := &http.Response{StatusCode: 403, ProtoMajor: 1, ProtoMinor: 1, Header: hdr,
			ContentLength: int64(len(body)), Body: io.NopCloser(bytes.NewReader(body))}
		if err := resp.Write(&wire); err != nil {
			t.Fatal(err)
		}
		e = readRefusal(403, &wire)
		if e.Header == nil || e.RequestID != hdr.Get("x-amzn-RequestId") {
			t.Fatalf("refusal %q: header %v, request id %q, want %q", wire.String(), e.Header, e.RequestID, reqID)
		}
		if isJSON && (e.ErrorCode != code || e.Message != msg) {
			t.Fatalf("refusal %q read as %q, %q; want %q, %q", wire.String(), e.ErrorCode, e.Message, code, msg)
		}
		if !isJSON && (e.ErrorCode != "" || e.Message != strings.TrimSpace(string(body))) {
			t.Fatalf("plain refusal %q read as %q, %q", strconv.Quote(string(body)), e.ErrorCode, e.Message)
		}
	})
}

// validToken: a request id a server sends (printable ASCII, no blanks).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
