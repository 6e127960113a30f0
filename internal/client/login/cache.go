package login

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ErrNotCached: no sign-in is cached for the profile.
var ErrNotCached = errors.New("no cached sign-in")

// Entry is one profile's cached sign-in: the role credentials and the
// provider's refresh token (if it gave one).
type Entry struct {
	Version         int       `json:"Version"`
	Issuer          string    `json:"Issuer"`
	ClientID        string    `json:"ClientId"`
	RoleARN         string    `json:"RoleArn"`
	Subject         string    `json:"Subject"`
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	SessionToken    string    `json:"SessionToken"`
	Expiration      time.Time `json:"Expiration"`
	RefreshToken    string    `json:"RefreshToken,omitempty"`
}

// Cache keeps entries as one JSON file per profile in Dir (mode 0600 in
// a 0700 folder).
type Cache struct{ Dir string }

// DefaultCacheDir is ~/.postern/login.
func DefaultCacheDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home folder for the sign-in cache: %w", err)
	}
	return filepath.Join(home, ".postern", "login"), nil
}

var plainName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

// Path is the file of profile's entry: the profile's name when it is a
// plain file name, else a hash of it.
func (c Cache) Path(profile string) string {
	name := profile
	if !plainName().MatchString(name) {
		sum := sha256.Sum256([]byte(profile))
		name = "profile-" + hex.EncodeToString(sum[:12])
	}
	return filepath.Join(c.Dir, name+".json")
}

// lockPath is the lock file of profile's entry.
func (c Cache) lockPath(profile string) string {
	return strings.TrimSuffix(c.Path(profile), ".json") + ".lock"
}

// mkdir makes the cache folder, or narrows it, to 0700.
func (c Cache) mkdir() error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("sign-in cache: %w", err)
	}
	if err := os.Chmod(c.Dir, 0o700); err != nil {
		return fmt.Errorf("sign-in cache: %w", err)
	}
	return nil
}

// Load reads profile's entry; ErrNotCached when there is none.
func (c Cache) Load(profile string) (Entry, error) {
	b, err := os.ReadFile(c.Path(profile))
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, ErrNotCached
	}
	if err != nil {
		return Entry{}, fmt.Errorf("read the sign-in cache: %w", err)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil || e.Version != 1 {
		return Entry{}, fmt.Errorf("%w (the file %s is unreadable: %v)", ErrNotCached, c.Path(profile), err)
	}
	return e, nil
}

// Save writes profile's entry: the folder is made (or narrowed to) 0700,
// the file is written to a temporary 0600 file in it, synced and renamed
// over the old one, so a reader sees the old entry or the new one.
func (c Cache) Save(profile string, e Entry) error {
	e.Version = 1
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := c.mkdir(); err != nil {
		return err
	}
	f, err := os.CreateTemp(c.Dir, ".login-*.tmp")
	if err != nil {
		return fmt.Errorf("sign-in cache: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.Path(profile))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sign-in cache: %w", err)
	}
	return nil
}

// Remove forgets profile's entry. It reports whether there was one.
func (c Cache) Remove(profile string) (bool, error) {
	err := os.Remove(c.Path(profile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sign-in cache: %w", err)
	}
	return true, nil
}
