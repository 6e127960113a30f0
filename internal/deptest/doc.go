// Package deptest holds no code, only tests that keep the module's layout
// honest: deptest_test.go enforces which folders may import which (the
// agent, the instance helper and the client import no server or storage
// package; policy and sigv4 stay pure; storage imports no protocol
// package; the shared wire packages import no role), and pkgdoc_test.go
// that every package states its job in a doc comment. See the README's
// Layout section for what each folder holds.
package deptest
