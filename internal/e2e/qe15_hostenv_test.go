package e2e

import "github.com/postern/postern/internal/testutil/hostenv"

// The tests' environment is their own, before TestMain builds postern: a
// developer's or CI host's proxies (the AWS CLI and botocore send even
// loopback calls through HTTPS_PROXY unless NO_PROXY names it),
// POSTERN_SSH, NODE_OPTIONS, locale, umask (a helper config the sshd's
// AuthorizedKeysCommandUser could not read) and ~/.aws must not change
// what the tests see. An init function, as TestMain is edited elsewhere
// this session; the HOME folder Isolate makes stays in $TMPDIR (TestMain
// ends in os.Exit), until the call moves into TestMain with its restore.
func init() { hostenv.Isolate() }
