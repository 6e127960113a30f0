// Package ui holds the console's page: the files that web/console builds
// (npm ci && npm run build), embedded into the binary so that the console
// needs nothing at run time beyond `postern server`.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// FS returns the built page, rooted at its index.html.
func FS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embedded tree always has dist
	}
	return sub
}
