//go:build !unix

package filelock

// Lock takes no lock on this platform (see the unix version).
func Lock(path string) (unlock func(), err error) { return func() {}, nil }
