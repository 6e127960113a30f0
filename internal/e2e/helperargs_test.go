package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/instance/helper"
	"github.com/postern/postern/internal/testutil/sshdtest"
	"github.com/postern/postern/internal/wire/sshkeys"
)

// keyService is a key service (package keyservice's GET
// /keys/v1/{instance}/{user}) that serves, for any user asked for, one
// entry for key signed by priv, and records the users asked for.
type keyService struct {
	*httptest.Server
	mu    sync.Mutex
	asked []string
	key   string
}

func newKeyService(t *testing.T, priv ed25519.PrivateKey) *keyService {
	ks := &keyService{}
	ks.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inst, user := path.Split(r.URL.EscapedPath())
		user, err := url.PathUnescape(user)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ks.mu.Lock()
		ks.asked = append(ks.asked, user)
		key := ks.key
		ks.mu.Unlock()
		e, err := sshkeys.Sign(priv, sshkeys.Entry{InstanceID: path.Base(inst), User: user, Expires: time.Now().Add(time.Minute).Unix(),
			Key: key, Caller: "arn:aws:iam::123456789012:user/test", RequestID: "req-1"})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(sshkeys.Response{Entries: []sshkeys.Entry{e}})
	}))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyService) users() []string {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return append([]string(nil), ks.asked...)
}

// TestHelperArgumentsAreData runs the sshd_config line that `postern
// authorized-keys --print-sshd-config` prints in a real sshd, for users
// whose names look like the helper's flags (sshd passes any name its user
// database knows; nss_wrapper gives this sshd such users). Each is looked
// up as its literal name: "--help" prints no help into sshd, and
// "--config=FILE" does not make the helper read FILE. (sshd refuses names
// with a "/", so FILE is relative to the helper's working directory, "/".)
// An ordinary user still logs in.
func TestHelperArgumentsAreData(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("sshd's AuthorizedKeysCommand needs a root-owned helper; CI runs as root")
	}
	wrappers, _ := filepath.Glob("/usr/lib/*/libnss_wrapper.so")
	if len(wrappers) == 0 {
		t.Fatal("libnss_wrapper.so not found; run `make test-deps` (installs libnss-wrapper)")
	}
	helperBin := sshdtest.SafeExecutable(t, binPath)
	dir := filepath.Dir(helperBin) // root-owned, readable by nobody
	const instanceID = "i-0123456789abcdef0"

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	good := newKeyService(t, priv)
	helperConfig := filepath.Join(dir, "instance.json")
	if err := helper.Save(helperConfig, helper.Config{InstanceID: instanceID, KeysURL: good.URL, SignerKey: sshkeys.FormatSigner(pub)}); err != nil {
		t.Fatal(err)
	}
	// The users sshd knows: the host's, and two named like flags (uid 0,
	// so that this sshd may log them in).
	flagUsers := []string{"--help", "--config=instance.json", "--print-sshd-config"}
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	group, err := os.ReadFile("/etc/group")
	if err != nil {
		t.Fatal(err)
	}
	nss := t.TempDir()
	for _, u := range flagUsers {
		passwd = append(passwd, []byte(u+":x:0:0:named like a flag:/root:/bin/sh\n")...)
	}
	for name, b := range map[string][]byte{"passwd": passwd, "group": group} {
		if err := os.WriteFile(filepath.Join(nss, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The sshd lines exactly as the helper prints them.
	out, err := exec.Command(helperBin, "authorized-keys", "--print-sshd-config", "--config", helperConfig).CombinedOutput()
	if err != nil {
		t.Fatalf("--print-sshd-config: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	sshd := sshdtest.Start(t, sshdtest.Options{NoAuthorizedKeysFile: true, ExtraConfig: lines, Env: []string{
		"LD_PRELOAD=" + wrappers[0],
		"NSS_WRAPPER_PASSWD=" + filepath.Join(nss, "passwd"),
		"NSS_WRAPPER_GROUP=" + filepath.Join(nss, "group"),
	}})
	good.mu.Lock()
	good.key = sshd.UserPublicKey
	good.mu.Unlock()

	login := func(user string) error {
		c, err := ssh.Dial("tcp", sshd.Addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(sshd.UserSigner)},
			HostKeyCallback: ssh.FixedHostKey(sshd.HostKey), Timeout: time.Minute})
		if err != nil {
			return err
		}
		return c.Close()
	}
	for _, user := range append(flagUsers, sshd.User) {
		t.Run(user, func(t *testing.T) {
			if err := login(user); err != nil {
				t.Fatalf("login as %q with the key pushed for %q: %v\nprinted sshd lines:\n%s", user, user, err, out)
			}
			asked := good.users()
			found := false
			for _, a := range asked {
				found = found || a == user
			}
			if !found {
				t.Fatalf("the key service was not asked for %q (asked for %q)", user, asked)
			}
		})
	}
}
