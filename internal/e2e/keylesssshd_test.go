package e2e

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"testing"

	"github.com/postern/postern/internal/testutil/sshdtest"
)

// keylessSSHD starts a real sshd whose only source of keys is `postern
// authorized-keys` (its AuthorizedKeysCommand, run as nobody; no
// authorized_keys file). It returns the sshd, the helper's config file
// (for `postern instance init`; readable by nobody) and the OS user the
// test runs as. It skips the test unless run as root.
func keylessSSHD(t *testing.T) (sshd *sshdtest.Server, helperConfig string, me *user.User) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sshd's AuthorizedKeysCommand needs a root-owned helper; CI runs as root")
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	helperBin := sshdtest.SafeExecutable(t, binPath)
	helperConfig = filepath.Join(filepath.Dir(helperBin), "instance.json") // readable by nobody
	sshd = sshdtest.Start(t, sshdtest.Options{NoAuthorizedKeysFile: true, ExtraConfig: []string{
		fmt.Sprintf("AuthorizedKeysCommand %s authorized-keys --config %s -- %%u %%f", helperBin, helperConfig),
		"AuthorizedKeysCommandUser nobody",
	}})
	return sshd, helperConfig, me
}
