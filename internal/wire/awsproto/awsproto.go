// Package awsproto holds the wire codecs of the AWS protocols Postern
// speaks: the Query protocol of IAM and STS (form parameters, XML responses
// wrapped in <ActionResult> and <ResponseMetadata>), the EC2 flavour of the
// Query protocol, and JSON 1.1 (X-Amz-Target). It also defines Error, the
// only place where AWS error codes and HTTP statuses live; inner packages
// return plain Go errors and the service edge turns them into Errors.
package awsproto

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// Error is an AWS error as a client sees it.
type Error struct {
	Status  int    // HTTP status
	Code    string // AWS error code, e.g. "AccessDenied"
	Message string // safe to show to the caller
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common errors shared by the Query services.
func MissingParameter(name string) *Error {
	return Errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %s", name)
}

// InvalidParameterValue reports a parameter whose value is not acceptable.
func InvalidParameterValue(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "InvalidParameterValue", format, args...)
}

// InternalError hides an internal failure behind AWS's generic message.
func InternalError() *Error {
	return Errorf(http.StatusInternalServerError, "InternalFailure", "The request processing has failed because of an unknown error, exception or failure.")
}

// AsError converts any error into an *Error: an *Error anywhere in the
// chain is returned as is, anything else becomes InternalError (the
// caller logs the original).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return InternalError()
}

// idRand is crypto/rand output read 1 KiB at a time for request ids:
// one read of the system's generator for 64 ids instead of one each
// (what uuid.EnableRandPool does, without changing every other uuid of
// the process). They are pooled per P, so callers share no lock; an
// idRand is used by one caller at a time, so no bytes serve twice.
type idRand struct {
	buf  [64 * 16]byte
	left int // unused bytes at the end of buf
}

var idRands = sync.Pool{New: func() any { return new(idRand) }}

// NewRequestID returns a request id in AWS's UUID form (a random,
// version 4 UUID).
func NewRequestID() string {
	var u uuid.UUID
	r := idRands.Get().(*idRand)
	if r.left == 0 {
		_, _ = rand.Read(r.buf[:]) // never fails (crypto/rand)
		r.left = len(r.buf)
	}
	copy(u[:], r.buf[len(r.buf)-r.left:])
	r.left -= len(u)
	idRands.Put(r)
	u[6] = (u[6] & 0x0f) | 0x40 // version 4
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u.String()
}

// Params holds the parameters of a Query-protocol request (the form body
// of a POST, or the URL query of a GET).
type Params map[string][]string

// Get returns the first value of name, or "".
func (p Params) Get(name string) string {
	if v := p[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Has reports whether name was sent (even with an empty value).
func (p Params) Has(name string) bool {
	_, ok := p[name]
	return ok
}

// Required returns the value of name or a MissingParameter error. An empty
// value counts as missing.
func (p Params) Required(name string) (string, error) {
	v := p.Get(name)
	if v == "" {
		return "", MissingParameter(name)
	}
	return v, nil
}

// Int returns name as an integer within [min, max], def when absent.
func (p Params) Int(name string, def, min, max int64) (int64, error) {
	v := p.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		return 0, InvalidParameterValue("Invalid value '%s' for %s. It must be an integer between %d and %d.", v, name, min, max)
	}
	return n, nil
}

// Bool returns name as a boolean, def when absent.
func (p Params) Bool(name string, def bool) (bool, error) {
	switch strings.ToLower(p.Get(name)) {
	case "":
		return def, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, InvalidParameterValue("Invalid value '%s' for %s: must be true or false.", p.Get(name), name)
}

// List returns the values of a flattened list, prefix.1, prefix.2, … in
// order, stopping at the first gap. For IAM-style "member" lists pass
// "Name.member" as the prefix; for EC2-style lists pass "Name".
func (p Params) List(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := p[prefix+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, firstOf(v))
	}
}

// Count returns how many consecutive indexed entries start with
// prefix.N. (for lists of structures such as Tags.member.N.Key).
func (p Params) Count(prefix string) int {
	n := 0
	for i := 1; ; i++ {
		pre := prefix + "." + strconv.Itoa(i) + "."
		found := false
		for k := range p {
			if strings.HasPrefix(k, pre) {
				found = true
				break
			}
		}
		if !found {
			return n
		}
		n++
	}
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// xmlHeader starts every XML response, as AWS sends it.
const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// WriteQueryResult writes an IAM/STS-style success response:
//
//	<ActionResponse xmlns="ns"><ActionResult>…result…</ActionResult>
//	<ResponseMetadata><RequestId>id</RequestId></ResponseMetadata></ActionResponse>
//
// result is marshalled as the children of <ActionResult>; nil writes no
// Result element (AWS omits it for actions without output).
func WriteQueryResult(w http.ResponseWriter, ns, action, requestID string, result any) error {
	r := getRespBuf()
	defer putRespBuf(r)
	b := &r.body
	b.WriteString(xmlHeader)
	writeResponseOpen(b, action, ns)
	if x, ok := result.(XMLChildren); ok {
		b.WriteByte('<')
		b.WriteString(action)
		b.WriteString("Result>")
		b.Write(x.AppendXMLChildren(b.AvailableBuffer()))
		b.WriteString("</")
		b.WriteString(action)
		b.WriteString("Result>\n")
	} else if result != nil {
		if err := r.encode(result, action+"Result"); err != nil {
			return fmt.Errorf("awsproto: encode %s result: %w", action, err)
		}
		b.WriteString("\n")
	}
	b.WriteString("<ResponseMetadata><RequestId>")
	writeXMLText(b, requestID)
	b.WriteString("</RequestId></ResponseMetadata>\n</")
	b.WriteString(action)
	b.WriteString("Response>\n")
	writeBodyBytes(w, http.StatusOK, "text/xml", requestID, b.Bytes())
	return nil
}

// writeResponseOpen writes what fmt.Fprintf(b, "<%sResponse xmlns=%q>\n",
// action, ns) writes, without its allocations.
func writeResponseOpen(b *bytes.Buffer, action, ns string) {
	b.WriteByte('<')
	b.WriteString(action)
	b.WriteString("Response xmlns=")
	if quotesAsIs(ns) { // every namespace Postern serves: no escaping to look for
		b.WriteByte('"')
		b.WriteString(ns)
		b.WriteByte('"')
	} else {
		b.Write(strconv.AppendQuote(b.AvailableBuffer(), ns))
	}
	b.WriteString(">\n")
}

// quotesAsIs tells whether strconv.Quote(s) is s between double quotes:
// printable ASCII without '"' or '\\'.
func quotesAsIs(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// XMLChildren is a result that writes its own XML: AppendXMLChildren
// appends to b exactly what encoding/xml writes between the tags of the
// result's element (its fields' elements, in order), and returns b.
// WriteQueryResult and WriteEC2Result use it instead of encoding/xml's
// reflection for the answers served most often; a type that implements
// it must be tested against encoding/xml with every field set (see
// TestXMLChildren in the packages that implement it), so that a field
// added later cannot be left out of the answer.
type XMLChildren interface {
	AppendXMLChildren(b []byte) []byte
}

// AppendXMLElement appends <name>text</name>, the text escaped as
// encoding/xml escapes a string field.
func AppendXMLElement(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = AppendXMLText(b, text)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// AppendXMLBool appends <name>true</name> or <name>false</name>, as
// encoding/xml writes a bool field.
func AppendXMLBool(b []byte, name string, v bool) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = strconv.AppendBool(b, v)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// AppendXMLText appends s escaped as encoding/xml escapes character
// data (xml.EscapeText: the same as a marshalled string field).
func AppendXMLText(b []byte, s string) []byte {
	if plainXMLText(s) {
		return append(b, s...)
	}
	w := appendWriter{b}
	_ = xml.EscapeText(&w, []byte(s))
	return w.b
}

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// writeXMLText writes what xml.EscapeText writes for s, without copying
// s when nothing in it needs escaping (request ids).
func writeXMLText(b *bytes.Buffer, s string) {
	if plainXMLText(s) {
		b.WriteString(s)
		return
	}
	_ = xml.EscapeText(b, []byte(s))
}

// plainXMLText tells whether xml.EscapeText would write s unchanged:
// printable ASCII without " ' & < >.
func plainXMLText(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainXMLByte[s[i]] {
			return false
		}
	}
	return true
}

// plainXMLByte[c] says whether xml.EscapeText writes byte c of an ASCII
// text as it is (one table look-up per byte instead of six comparisons).
var plainXMLByte = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = true
	}
	for _, c := range []byte{'"', '\'', '&', '<', '>'} {
		t[c] = false
	}
	return t
}()

// respBuf is a response body being built, with a buffered writer over it
// for encoding/xml. They are pooled: a new encoder's 4 KiB buffer and the
// body's growth were about a third of a signed call's allocations in the
// server (BenchmarkAPIBinary).
type respBuf struct {
	body bytes.Buffer
	enc  *bufio.Writer // writes to body
	// xml encodes into enc. An Encoder is back in its first state once
	// an element is fully written, so it is pooled too (a new one and
	// the growth of its element and prefix stacks were a third of an
	// answer's allocations); one that failed is not reused (broken).
	xml    *xml.Encoder
	broken bool
}

var respBufs = sync.Pool{New: func() any {
	r := &respBuf{}
	r.enc = bufio.NewWriterSize(&r.body, 4096)
	r.xml = xml.NewEncoder(r.enc) // r.enc is a *bufio.Writer: the encoder uses it as is
	return r
}}

// encode writes v as the element name, and its children, to r.body.
func (r *respBuf) encode(v any, name string) error {
	if err := r.xml.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: name}}); err != nil {
		r.broken = true
		return err
	}
	if err := r.xml.Flush(); err != nil {
		r.broken = true
		return err
	}
	return nil
}

// maxPooledBody bounds the buffers kept for reuse: a rare large answer
// (a listing of thousands) does not stay pinned in the pool.
const maxPooledBody = 64 << 10

func getRespBuf() *respBuf {
	r := respBufs.Get().(*respBuf)
	r.body.Reset()
	r.enc.Reset(&r.body)
	return r
}

func putRespBuf(r *respBuf) {
	if !r.broken && r.body.Cap() <= maxPooledBody {
		respBufs.Put(r)
	}
}

// WriteQueryError writes an IAM/STS-style error response:
//
//	<ErrorResponse xmlns="ns"><Error><Type>Sender</Type><Code>…</Code>
//	<Message>…</Message></Error><RequestId>…</RequestId></ErrorResponse>
func WriteQueryError(w http.ResponseWriter, ns, requestID string, e *Error) {
	var b strings.Builder
	b.WriteString(xmlHeader)
	fmt.Fprintf(&b, "<ErrorResponse xmlns=%q>\n  <Error>\n    <Type>%s</Type>\n    <Code>", ns, faultType(e.Status))
	xmlEscape(&b, e.Code)
	b.WriteString("</Code>\n    <Message>")
	xmlEscape(&b, e.Message)
	b.WriteString("</Message>\n  </Error>\n  <RequestId>")
	xmlEscape(&b, requestID)
	b.WriteString("</RequestId>\n</ErrorResponse>\n")
	writeBody(w, e.Status, "text/xml", requestID, b.String())
}

// WriteEC2Result writes an EC2-style success response: the result's
// children under <ActionResponse xmlns="ns"> after <requestId>.
func WriteEC2Result(w http.ResponseWriter, ns, action, requestID string, result any) error {
	r := getRespBuf()
	defer putRespBuf(r)
	b := &r.body
	b.WriteString(xmlHeader)
	writeResponseOpen(b, action, ns)
	b.WriteString("    <requestId>")
	writeXMLText(b, requestID)
	b.WriteString("</requestId>\n")
	if x, ok := result.(XMLChildren); ok {
		mark := b.Len()
		b.WriteString("    ")
		if c := x.AppendXMLChildren(b.AvailableBuffer()); len(c) > 0 {
			b.Write(c)
			b.WriteString("\n")
		} else {
			b.Truncate(mark) // no children: no indent either
		}
	} else if result != nil {
		// The result's own element is dropped: marshal it under a
		// throwaway name and keep only its children.
		inner := getRespBuf()
		defer putRespBuf(inner)
		if err := inner.encode(result, "r"); err != nil {
			return fmt.Errorf("awsproto: encode %s result: %w", action, err)
		}
		if s := bytes.TrimSuffix(bytes.TrimPrefix(inner.body.Bytes(), []byte("<r>")), []byte("</r>")); len(s) > 0 && string(s) != "<r/>" {
			b.WriteString("    ")
			b.Write(s)
			b.WriteString("\n")
		}
	}
	b.WriteString("</")
	b.WriteString(action)
	b.WriteString("Response>\n")
	writeBodyBytes(w, http.StatusOK, "text/xml;charset=UTF-8", requestID, b.Bytes())
	return nil
}

// WriteEC2Error writes an EC2-style error response (note RequestID, not
// requestId, as AWS sends it).
func WriteEC2Error(w http.ResponseWriter, requestID string, e *Error) {
	var b strings.Builder
	b.WriteString(xmlHeader)
	b.WriteString("<Response><Errors><Error><Code>")
	xmlEscape(&b, e.Code)
	b.WriteString("</Code><Message>")
	xmlEscape(&b, e.Message)
	b.WriteString("</Message></Error></Errors><RequestID>")
	xmlEscape(&b, requestID)
	b.WriteString("</RequestID></Response>\n")
	writeBody(w, e.Status, "text/xml;charset=UTF-8", requestID, b.String())
}

// WriteJSONResult writes a JSON 1.1 success response.
func WriteJSONResult(w http.ResponseWriter, requestID string, result any) error {
	if result == nil {
		result = struct{}{}
	}
	body, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("awsproto: encode JSON result: %w", err)
	}
	writeBody(w, http.StatusOK, "application/x-amz-json-1.1", requestID, string(body))
	return nil
}

// WriteJSONError writes a JSON 1.1 error: {"__type":code,"Message":msg}.
func WriteJSONError(w http.ResponseWriter, requestID string, e *Error) {
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}{e.Code, e.Message})
	w.Header().Set("X-Amzn-Errortype", e.Code)
	writeBody(w, e.Status, "application/x-amz-json-1.1", requestID, string(body))
}

func writeBody(w http.ResponseWriter, status int, contentType, requestID, body string) {
	setHeaders(w.Header(), contentType, len(body), requestID)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// writeBodyBytes is writeBody for a body in bytes (which w copies).
func writeBodyBytes(w http.ResponseWriter, status int, contentType, requestID string, body []byte) {
	setHeaders(w.Header(), contentType, len(body), requestID)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// setHeaders sets an answer's Content-Type, Content-Length and
// x-amzn-RequestId as three Header.Set calls would (the same canonical
// keys: X-Amzn-Requestid on the wire, as before), with one allocation
// for the three values instead of a slice each and a canonicalised key.
// Each value's slice has capacity 1, so an Add to one of them copies it.
func setHeaders(h http.Header, contentType string, length int, requestID string) {
	v := &[3]string{contentType, strconv.Itoa(length), requestID}
	h["Content-Type"] = v[0:1:1]
	h["Content-Length"] = v[1:2:2]
	h["X-Amzn-Requestid"] = v[2:3:3]
}

func faultType(status int) string {
	if status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

func xmlEscape(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s))
}
