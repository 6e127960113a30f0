// Package deptest holds no code, only tests that keep the module's layout
// honest: deptest_test.go enforces which folders may import which (the
// agent, the instance helper and the client import no server or storage
// package; policy and sigv4 stay pure; storage imports no protocol
// package; the shared wire packages import no role; the server imports no
// other role's program, the console's terminal using the client library
// being the one named exception; code that ships imports no test helper;
// util imports only util; only the CLI imports the server's composition
// root), shows each rule failing on the import it
// forbids, and pkgdoc_test.go checks that every package states its job in
// a doc comment. oneowner_test.go checks that what one package owns (the
// rule for caching by the store's change count, the maximum-duration
// close reason) is not written again elsewhere. See the README's Layout section for what each folder
// holds.
package deptest
