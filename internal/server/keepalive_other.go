//go:build !linux

package server

import "net"

// listenConfig returns the ListenConfig of the server's listeners: Go's
// default, which sets keepalive on every accepted connection (only Linux
// is relied on to copy a listener's keepalive to the connections it
// accepts: keepalive_linux.go).
func listenConfig() net.ListenConfig { return net.ListenConfig{} }
