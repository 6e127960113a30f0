package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/postern/postern/internal/store"
)

// The bootstrap administrator's one-time sign-in link. On the first start
// the server makes a random token, keeps only its SHA-256 and expiry in
// the settings, and prints the link (the token in its fragment, which
// browsers never send in a URL). The page posts the token; the first post
// that matches consumes it in one transaction.

// settingLink is the settings key of the link.
const settingLink = "console_bootstrap_link"

// LinkTTL is how long the one-time link stays valid.
const LinkTTL = 24 * time.Hour

var errLinkInvalid = errors.New("console: sign-in link invalid, expired or used")

// linkRecord is the stored form of the link.
type linkRecord struct {
	Hash     string    `json:"hash"` // hex SHA-256 of the token
	UserName string    `json:"userName"`
	UserID   string    `json:"userId"`
	Expires  time.Time `json:"expires"`
	Used     bool      `json:"used"`
}

// NewBootstrapLink makes the one-time sign-in link's token for the user
// (replacing any earlier one) and returns it; the link is
// https://HOST/console/#/welcome/TOKEN.
func NewBootstrapLink(ctx context.Context, st store.Store, user store.User, now time.Time) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("console: sign-in link: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	rec := linkRecord{Hash: tokenHash(token), UserName: user.UserName, UserID: user.UserID, Expires: now.Add(LinkTTL).UTC()}
	v, err := json.Marshal(rec)
	if err != nil {
		return "", fmt.Errorf("console: sign-in link: %w", err)
	}
	if err := st.PutSetting(ctx, settingLink, string(v)); err != nil {
		return "", fmt.Errorf("console: store sign-in link: %w", err)
	}
	return token, nil
}

// LinkPath is the path and fragment of the one-time link for a token.
func LinkPath(token string) string { return "/console/#/welcome/" + token }

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte("postern-console-link\x00" + token))
	return hex.EncodeToString(sum[:])
}

// consumeLink checks token against the stored link and marks it used, in
// one transaction; errLinkInvalid when it does not match, expired or was
// used.
func consumeLink(ctx context.Context, st store.Store, token string, now time.Time) (linkRecord, error) {
	var rec linkRecord
	err := st.InTx(ctx, func(tx store.Repo) error {
		rec = linkRecord{}
		v, err := tx.GetSetting(ctx, settingLink)
		if errors.Is(err, store.ErrNotFound) {
			return errLinkInvalid
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(v), &rec); err != nil {
			return fmt.Errorf("console: stored sign-in link: %w", err)
		}
		if token == "" || subtle.ConstantTimeCompare([]byte(tokenHash(token)), []byte(rec.Hash)) != 1 ||
			rec.Used || !now.Before(rec.Expires) {
			return errLinkInvalid
		}
		used := rec
		used.Used = true
		b, err := json.Marshal(used)
		if err != nil {
			return err
		}
		return tx.PutSetting(ctx, settingLink, string(b))
	})
	if err != nil {
		if errors.Is(err, errLinkInvalid) {
			return linkRecord{}, errLinkInvalid
		}
		return linkRecord{}, fmt.Errorf("console: sign-in link: %w", err)
	}
	return rec, nil
}

// restoreLink makes a consumed link usable again when its session could
// not be issued (it is still the same link: same hash, same expiry).
func restoreLink(ctx context.Context, st store.Store, rec linkRecord) error {
	rec.Used = false
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := st.PutSetting(ctx, settingLink, string(b)); err != nil {
		return fmt.Errorf("console: restore sign-in link: %w", err)
	}
	return nil
}
