package console

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/postern/postern/internal/server/console/ui"
)

// servePage is GET /console/{path...}: index.html for the console's root
// (never cached: it names the current build's assets), the built assets
// otherwise. index.html names each asset with ?v=<the first 16 hex digits
// of its SHA-256>; an asset asked for with its current hash is cached for
// a year (a new build changes the URL), any other request for it is
// revalidated each time.
func (c *Console) servePage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("path")
	if name == "" || name == "index.html" {
		c.serveFile(w, r, "index.html", "no-store")
		return
	}
	if strings.HasPrefix(name, "api/") {
		writeError(w, http.StatusNotFound, "NotFound", "No console API at "+r.URL.Path+".")
		return
	}
	cache := "no-cache"
	if v := r.URL.Query().Get("v"); v != "" && v == assetVersion(path.Clean(name)) {
		cache = "public, max-age=31536000, immutable"
	}
	c.serveFile(w, r, name, cache)
}

var (
	versionsOnce sync.Once
	versions     map[string]string // asset → first 16 hex digits of its SHA-256
)

// assetVersion is the content hash that index.html puts in an asset's
// URL; empty for a name that is not embedded.
func assetVersion(name string) string {
	versionsOnce.Do(func() {
		versions = map[string]string{}
		_ = fs.WalkDir(ui.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, err := fs.ReadFile(ui.FS(), p)
			if err != nil {
				return nil
			}
			sum := sha256.Sum256(b)
			versions[p] = hex.EncodeToString(sum[:])[:16]
			return nil
		})
	})
	return versions[name]
}

func (c *Console) serveFile(w http.ResponseWriter, r *http.Request, name, cacheControl string) {
	clean := path.Clean(name)
	if !fs.ValidPath(clean) || strings.HasPrefix(clean, ".") {
		http.NotFound(w, r)
		return
	}
	f, err := ui.FS().Open(clean)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		c.internal(w, r, errors.New("console: embedded file is not seekable"))
		return
	}
	w.Header().Set("Cache-Control", cacheControl)
	// Embedded files have no modification time; ServeContent then sends
	// no Last-Modified.
	http.ServeContent(w, r, clean, time.Time{}, rs)
}
