// Package sshkeys is the format of SSH public keys pushed with
// SendSSHPublicKey on their way to an instance: an Entry names the
// instance, the OS user, the expiry and the key, and carries the server's
// Ed25519 signature over all of them, so that the instance helper
// (`postern authorized-keys`) accepts only keys the server pushed, for this
// instance and user, before they expire — whatever agent or network
// carried them (AWS does the same with its signer certificate, docs/aws-compat.md §3.2).
// The package is pure.
package sshkeys

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Entry is one pushed key.
type Entry struct {
	InstanceID string `json:"instanceId"`
	User       string `json:"user"`
	Expires    int64  `json:"expires"` // unix seconds; the key is valid before it
	Key        string `json:"key"`     // authorized_keys form, "ssh-ed25519 AAAA…"
	Caller     string `json:"caller"`  // the ARN that pushed it
	RequestID  string `json:"requestId"`
	Signature  string `json:"signature"` // base64 Ed25519 over Canonical
}

// Response is what a key service answers: the entries of one instance's
// OS user.
type Response struct {
	Entries []Entry `json:"entries"`
}

const domain = "postern-pushed-ssh-key-v1"

// Canonical is the byte string an entry's signature covers: a domain
// string and every field but the signature, one per line (no field may
// hold a newline).
func (e Entry) Canonical() []byte {
	return []byte(strings.Join([]string{domain, e.InstanceID, e.User, strconv.FormatInt(e.Expires, 10), e.Key, e.Caller, e.RequestID}, "\n") + "\n")
}

func (e Entry) wellFormed() error {
	for name, v := range map[string]string{"instance": e.InstanceID, "user": e.User, "key": e.Key, "caller": e.Caller, "request": e.RequestID} {
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("entry field %s holds a newline", name)
		}
	}
	return nil
}

// Sign returns e signed with the server's key.
func Sign(priv ed25519.PrivateKey, e Entry) (Entry, error) {
	if err := e.wellFormed(); err != nil {
		return e, err
	}
	e.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, e.Canonical()))
	return e, nil
}

// Errors of Check.
var (
	ErrSignature   = errors.New("bad signature")
	ErrOtherTarget = errors.New("pushed for another instance or user")
	ErrExpired     = errors.New("expired")
	ErrFingerprint = errors.New("not the key sshd offered")
)

// Check decides whether an entry may be printed for sshd: the server's
// signature verifies, it names this instance and user, it has not expired,
// and, when sshd gave the offered key's fingerprint (%f, "SHA256:…"), it is
// that key. It returns the authorized_keys line to print.
func Check(signer ed25519.PublicKey, e Entry, instanceID, user string, now time.Time, fingerprint string) (string, error) {
	if err := e.wellFormed(); err != nil {
		return "", err
	}
	sig, err := base64.StdEncoding.DecodeString(e.Signature)
	if err != nil || len(signer) != ed25519.PublicKeySize || !ed25519.Verify(signer, e.Canonical(), sig) {
		return "", ErrSignature
	}
	if e.InstanceID != instanceID || e.User != user {
		return "", ErrOtherTarget
	}
	if !now.Before(time.Unix(e.Expires, 0)) {
		return "", ErrExpired
	}
	pk, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(e.Key))
	if err != nil || len(strings.TrimSpace(string(rest))) != 0 {
		return "", fmt.Errorf("unparsable key: %v", err)
	}
	if fingerprint != "" && ssh.FingerprintSHA256(pk) != fingerprint {
		return "", ErrFingerprint
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))), nil
}

// ParseSigner reads the server's public signing key in authorized_keys
// form ("ssh-ed25519 AAAA… comment").
func ParseSigner(line string) (ed25519.PublicKey, error) {
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf("signer key: %w", err)
	}
	cpk, ok := pk.(ssh.CryptoPublicKey)
	if !ok {
		return nil, errors.New("signer key: not a plain public key")
	}
	ed, ok := cpk.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("signer key: %s, want ssh-ed25519", pk.Type())
	}
	return ed, nil
}

// FormatSigner writes the server's public signing key in authorized_keys
// form.
func FormatSigner(pub ed25519.PublicKey) string {
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " postern-ssh-key-signer"
}
