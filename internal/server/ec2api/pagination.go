package ec2api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/postern/postern/internal/wire/awsproto"
)

// Pagination. Describe actions list items ordered by id; a page ends after
// MaxResults items and its NextToken names the last item shown, so the
// next page starts after it even if items were added or removed in
// between. Tokens are opaque to clients: the base64url of the last id, a
// dot, and a checksum over the action and that id. The checksum is not a
// secret MAC: forging a token only lets a caller start a listing at an id
// of its choosing, which it could do with filters anyway; it makes garbage
// and tokens of another action fail with InvalidPaginationToken instead of
// silently restarting.

// encodeToken returns the NextToken that resumes action after lastID.
func encodeToken(action, lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID)) + "." + tokenSum(action, lastID)
}

// tokenSum is the checksum of a token: 16 hex digits of SHA-256.
func tokenSum(action, lastID string) string {
	h := sha256.Sum256([]byte("postern ec2 pagination\x00" + action + "\x00" + lastID))
	return hex.EncodeToString(h[:8])
}

// decodeToken returns the last id of the page a token resumes after.
func decodeToken(action, token string) (string, error) {
	bad := badRequest(codePaginationToken, "Invalid pagination token: %s", truncate(token, 64))
	if len(token) > 2048 {
		return "", bad
	}
	enc, sum, ok := strings.Cut(token, ".")
	if !ok {
		return "", bad
	}
	last, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(last) == 0 {
		return "", bad
	}
	if subtle.ConstantTimeCompare([]byte(tokenSum(action, string(last))), []byte(sum)) != 1 {
		return "", bad
	}
	return string(last), nil
}

// truncate shortens s to n bytes for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// pageRequest is the MaxResults / NextToken pair of a Describe request.
type pageRequest struct {
	max   int    // 0: everything
	after string // "" from the start
}

// parsePage reads MaxResults (within [min, max]) and NextToken for action.
// A NextToken without MaxResults still resumes; pages then run to the end.
func parsePage(p awsproto.Params, action string, min, max int64) (pageRequest, error) {
	var pr pageRequest
	n, present, err := intParam(p, "MaxResults", min, max)
	if err != nil {
		return pr, awsproto.InvalidParameterValue("Value ( %s ) for parameter maxResults is invalid. Parameter must be between %d and %d.", p.Get("MaxResults"), min, max)
	}
	if present {
		pr.max = int(n)
	}
	if tok := p.Get("NextToken"); tok != "" {
		if pr.after, err = decodeToken(action, tok); err != nil {
			return pr, err
		}
	}
	return pr, nil
}

// paginate returns the page of items (sorted by id ascending) that pr asks
// for, and the NextToken of the following page ("" on the last page).
func paginate[T any](items []T, id func(T) string, pr pageRequest, action string) ([]T, string) {
	start := 0
	if pr.after != "" {
		start = len(items)
		for i, it := range items {
			if id(it) > pr.after {
				start = i
				break
			}
		}
	}
	items = items[start:]
	if pr.max <= 0 || len(items) <= pr.max {
		return items, ""
	}
	page := items[:pr.max]
	return page, encodeToken(action, id(page[len(page)-1]))
}
