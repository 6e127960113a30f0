//go:build unix

package hostenv

import "syscall"

// setUmask makes files the tests create readable by the other users the
// tests run tools as (sshd's AuthorizedKeysCommandUser nobody) whatever
// umask the developer's shell had.
func setUmask() { syscall.Umask(0o022) }
