package server

import (
	"fmt"
	"net"
	"net/netip"
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

// exposedListen returns the first of listen (HOST:PORT addresses the
// server listens on) that other hosts can reach — a wildcard (0.0.0.0,
// [::], an empty host) or an address not on loopback — when advertise,
// the address the server hands out (endpoint dnsName, join tokens, client
// configuration), names a loopback host; "" otherwise. The default
// public_host is localhost so that a first start on one machine works;
// a server started to be reached from elsewhere (the container image's
// --listen 0.0.0.0:8443) then names an address agents and clients on
// other hosts cannot dial, and only says so if told here.
func exposedListen(advertise string, listen []string) string {
	host, _, err := net.SplitHostPort(advertise)
	if err != nil || !loopbackHost(host) {
		return ""
	}
	for _, l := range listen {
		h, _, err := net.SplitHostPort(l)
		if err != nil {
			continue
		}
		if !loopbackHost(h) {
			return l
		}
	}
	return ""
}

// loopbackHost reports whether host (a name or an IP address, no port)
// is only reachable from this machine: localhost, a name under
// .localhost (RFC 6761), or a loopback IP. A wildcard ("", 0.0.0.0, ::)
// is not: it listens on every interface.
func loopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// exposedNote is the welcome text's warning when exposedListen finds a
// listener other hosts reach while the advertised address is loopback
// (empty otherwise): what to set so they can connect.
func exposedNote(advertise string, listen []string) string {
	l := exposedListen(advertise, listen)
	if l == "" {
		return ""
	}
	return fmt.Sprintf("  WARNING: listening on %s but advertising %s (endpoint dnsName, join tokens, client configuration):\n"+
		"  agents and clients on other hosts cannot use it. Set public_host in %s to the name or address they\n"+
		"  reach this server at (it is the first name on the TLS certificate; list any other names or addresses in tls.sans).\n",
		l, advertise, ConfigFileName)
}
