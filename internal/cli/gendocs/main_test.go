package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestDocsUpToDate: the committed internal/cli/docs.json is what gendocs
// writes now, for the served operations and the SDK in go.mod; after
// changing either, run `go generate ./internal/cli/`.
func TestDocsUpToDate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "docs.json")
	if err := run(out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("..", "docs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		t.Fatalf("internal/cli/docs.json is stale: run go generate ./internal/cli/")
	}
}
