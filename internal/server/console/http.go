package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"unicode"
)

// ContentSecurityPolicy is the console's policy: everything from its own
// origin, nothing inline, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// securityHeaders sets the headers every console response carries; API
// answers are never cached.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, "/console/api/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// apiError is the console API's error body.
type apiError struct {
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxJSONBody bounds the console's own JSON requests.
const maxJSONBody = 64 << 10

// readJSON decodes a console request body into v; false (and an answer
// sent) when it is too large, not one JSON object, names a field twice
// (in any letter case, as encoding/json matches names) or names a field
// v does not have.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body is too large.")
			return false
		}
		writeError(w, http.StatusBadRequest, "InvalidInput", "The request body could not be read.")
		return false
	}
	if msg := checkJSONObject(body); msg != "" {
		writeError(w, http.StatusBadRequest, "InvalidInput", msg)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidInput", "The request body must be a JSON object of the known fields.")
		return false
	}
	return true
}

// checkJSONObject is why body is not a single JSON object whose
// top-level names are distinct; "" when it is.
func checkJSONObject(body []byte) string {
	const notObject = "The request body must be a JSON object."
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return notObject
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return notObject
		}
		name, _ := tok.(string)
		if seen[strings.ToLower(name)] {
			return fmt.Sprintf("The request body gives the field %q more than once.", name)
		}
		seen[strings.ToLower(name)] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return notObject
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return notObject
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return notObject
	}
	return ""
}

// acceptsHTML reports whether an Accept header lists text/html.
func acceptsHTML(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mt == "text/html" {
				return true
			}
		}
	}
	return false
}

// remoteAddr is the browser's address (IPv4-mapped addresses unmapped).
func remoteAddr(r *http.Request) netip.AddrPort {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// maxBrowserUA bounds the browser's user agent kept in the console's.
const maxBrowserUA = 512

// userAgent is the user agent the console's calls carry: the console's
// name and version, then the browser's own in parentheses (control
// characters dropped, length bounded).
func (c *Console) userAgent(r *http.Request) string {
	ua := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, r.UserAgent())
	if len(ua) > maxBrowserUA {
		ua = strings.ToValidUTF8(ua[:maxBrowserUA], "")
	}
	return "postern-console/" + c.versionString() + " (" + strings.TrimSpace(ua) + ")"
}
