// Package consolebench measures the web console as a person meets it,
// against `postern server` run as a user runs it (the built binary, its
// embedded agent) and a real sshd whose keys come from `postern
// authorized-keys`:
//
//	BenchmarkConsole/keystroke/browser      a key pressed in Chromium's
//	                                        terminal page (xterm.js) until its
//	                                        echo is drawn, timed in the page
//	                                        with performance.now() (keydown →
//	                                        the DOM row showing it); the shell
//	                                        runs `cat >/dev/null`, so the echo
//	                                        is the remote pty's. p50-ms, p99-ms
//	                                        over b.N keys (-benchtime 200x);
//	                                        sent-p50-ms, sent-p99-ms: keydown →
//	                                        the page's WebSocket send; ws-p50-ms,
//	                                        ws-p99-ms: keydown → its output
//	                                        arriving on that WebSocket.
//	BenchmarkConsole/keystroke/websocket    the same keys on the console's
//	                                        terminal WebSocket spoken by a Go
//	                                        client (coder/websocket; signed in
//	                                        through /console/api/signin): the
//	                                        server's share, without a browser.
//	BenchmarkConsole/keystroke/postern-ssh  the same keys through `postern ssh`
//	                                        in a local pty (creack/pty): write
//	                                        to the pty → the echoed byte read
//	                                        back. The baseline of the same run.
//	BenchmarkConsole/pageload               per round (b.N rounds, cache off):
//	                                        navigation start → sign-in form
//	                                        present (signin-*); Sign in clicked
//	                                        → endpoints table shown (signin-to-
//	                                        table-*); reload of the endpoints
//	                                        page, navigation start → table
//	                                        shown (endpoints-*).
//
// It needs Chromium (skipped without; CI=true fails instead) and root (sshd's
// AuthorizedKeysCommand must be root-owned). scripts/bench.sh (`make bench`)
// runs it and prints the figures; RESULTS.md records runs. By hand:
//
//	go test -run '^$' -bench 'Console/keystroke' -benchtime 200x ./internal/bench/consolebench/
package consolebench
