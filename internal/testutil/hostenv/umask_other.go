//go:build !unix

package hostenv

// setUmask: no umask outside Unix.
func setUmask() {}
