package server

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
)

// The welcome text's shell lines are pasted as printed, so they hold
// values, not variables the operator's shell may lack.

// welcomeUser is the user name the welcome's ssh lines use: the user the
// server runs as, else $USER, else a placeholder the operator must
// replace (never "$USER", which expands to nothing where USER is unset).
func welcomeUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "<user>"
}

// pathExport is " PATH=DIR:$PATH" for the directory of the running
// postern binary, so that the lines after the export line find
// `postern`; empty when that directory is on PATH already or unknown.
func pathExport() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	dir := filepath.Dir(exe)
	for _, p := range filepath.SplitList(os.Getenv("PATH")) {
		if p == dir {
			return ""
		}
	}
	return " PATH=" + shellQuote(dir) + ":$PATH"
}

// shellQuote returns s as one shell word: unchanged when it needs no
// quoting, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:@%+=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
