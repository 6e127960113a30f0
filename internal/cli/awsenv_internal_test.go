package cli

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// isolatedAWSEnv gives the test an AWS environment of its own: HOME and
// the shared config and credentials files in a temporary directory, the
// static key keyID, no instance metadata, and none of the variables a
// developer's shell may set (a profile, a region, a CA bundle, an
// endpoint). It writes cert, the test server's, to a PEM file there and
// returns its path, for --ca-bundle.
func isolatedAWSEnv(t *testing.T, keyID string, cert *x509.Certificate) (caPath string) {
	t.Helper()
	dir := t.TempDir()
	caPath = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", dir)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, v := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CA_BUNDLE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "POSTERN_ALLOW_AWS"} {
		t.Setenv(v, "")
	}
	return caPath
}
