package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/testutil"
)

// Every example users copy must validate with this binary's components.
func TestExampleConfigsValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(t), "configs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := configs.Load(f, components()); err != nil {
				t.Fatalf("%v", err)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runMain([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "outpost ") {
		t.Errorf("version: %d %q", code, out.String())
	}
	if code := runMain(nil, &out, &errOut); code != 2 {
		t.Errorf("no command: exit %d", code)
	}
	if code := runMain([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
	errOut.Reset()
	if code := runMain([]string{"validate", "-c", "testdata/three-errors.yaml"}, &out, &errOut); code != 1 {
		t.Errorf("validate of a bad file: exit %d", code)
	}
	if n := strings.Count(errOut.String(), "testdata/three-errors.yaml:") - 1; n != 3 {
		t.Errorf("validate printed %d located errors:\n%s", n, errOut.String())
	}
	errOut.Reset()
	if code := runMain([]string{"run", "-c", "testdata/three-errors.yaml"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "unknown key") {
		t.Errorf("run of a bad file: exit %d\n%s", code, errOut.String())
	}
}

var componentDirs = []string{"receivers", "processors", "exporters", "connectors"}

// TestComponentIsolation keeps the architecture honest: no component
// package imports another component package, and nothing registers itself
// in init().
func TestComponentIsolation(t *testing.T) {
	root := testutil.RepoRoot(t)
	const module = "github.com/outpost-edge/outpost/"
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "tools" || name == "bin" || name == "testdata" || strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		own := componentOf(filepath.ToSlash(rel))
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) || own == "" {
				continue
			}
			if other := componentOf(strings.TrimPrefix(p, module)); other != "" && other != own {
				t.Errorf("%s imports component %s", filepath.ToSlash(rel), other)
			}
		}
		full, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range full.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "init" {
				t.Errorf("%s declares init()", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// componentOf returns "receivers/otlpreceiver" for a path inside that
// component, or "" outside components.
func componentOf(rel string) string {
	parts := strings.Split(rel, "/")
	if len(parts) < 2 {
		return ""
	}
	for _, d := range componentDirs {
		if parts[0] == d {
			return parts[0] + "/" + parts[1]
		}
	}
	return ""
}
