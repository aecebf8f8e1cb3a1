package filewatch

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReadsOnlyOnChange: a file touched without a change is not parsed
// again; a changed one is, with the same size and mtime set back.
func TestReadsOnlyOnChange(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	parses := 0
	w, err := New(Options{What: "f"}, func(c [][]byte) (string, error) { parses++; return string(c[0]), nil }, p)
	if err != nil {
		t.Fatal(err)
	}
	get := func() string {
		v, err := w.Get()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for range 3 {
		get()
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	if v := get(); v != "one" || parses != 1 {
		t.Fatalf("touched: %q after %d parses", v, parses)
	}
	fi, _ := os.Stat(p)
	if err := os.WriteFile(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Same size, and an mtime moved: the content decides.
	if err := os.Chtimes(p, fi.ModTime().Add(time.Second), fi.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if v := get(); v != "two" || parses != 2 || w.Reloads() != 1 {
		t.Fatalf("changed: %q after %d parses, %d reloads", v, parses, w.Reloads())
	}
}

// TestSecretKeepsLastGood: a secret file emptied or removed keeps the
// previous secret; New refuses an empty or multi-line file.
func TestSecretKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "token")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("  \n")
	if _, err := Secret(Options{}, p); err == nil || err.Error() != "empty" {
		t.Fatalf("empty file: %v", err)
	}
	write("a\nb\n")
	if _, err := Secret(Options{}, p); err == nil || err.Error() != "more than one line" {
		t.Fatalf("two lines: %v", err)
	}
	write("tok-1\n")
	w, err := Secret(Options{}, p)
	if err != nil {
		t.Fatal(err)
	}
	write("")
	if v, err := w.Get(); v != "tok-1" || err != nil {
		t.Fatalf("emptied: %q, %v", v, err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if v, err := w.Get(); v != "tok-1" || err != nil {
		t.Fatalf("removed: %q, %v", v, err)
	}
	write("tok-2-longer")
	if v, err := w.Get(); v != "tok-2-longer" || err != nil {
		t.Fatalf("rewritten: %q, %v", v, err)
	}
}
