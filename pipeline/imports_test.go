package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const (
	modulePath  = "github.com/outpost-edge/outpost"
	configsPath = modulePath + "/configs"
)

// listedPackage is the part of `go list -json` output the import test reads.
type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// TestNoImportOfConfigs keeps the configs package out of everything under
// pipeline/: configs decodes YAML onto the components' config structs and
// imports pipeline, so the pipeline packages take plain Go values (sizes
// from internal/units) and never depend on configs, not even through
// another package. Their tests may not import it either.
func TestNoImportOfConfigs(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to list the import graph: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "-json=ImportPath,Imports,TestImports,XTestImports", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string]listedPackage{}
	var roots []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
		if p.ImportPath == modulePath+"/pipeline" || strings.HasPrefix(p.ImportPath, modulePath+"/pipeline/") {
			roots = append(roots, p.ImportPath)
		}
	}
	if !slices.Contains(roots, modulePath+"/pipeline/sender") {
		t.Fatalf("go list from %s did not list pipeline/sender: listed %v", modulePath+"/pipeline", roots)
	}
	for _, root := range roots {
		if chain := importChain(pkgs, root, configsPath); chain != nil {
			t.Errorf("%s imports configs: %s", root, strings.Join(chain, " -> "))
		}
		p := pkgs[root]
		if slices.Contains(p.TestImports, configsPath) || slices.Contains(p.XTestImports, configsPath) {
			t.Errorf("the tests of %s import configs", root)
		}
	}
}

// importChain returns the shortest chain of imports from one package to
// another (both ends included), or nil when from does not depend on to.
func importChain(pkgs map[string]listedPackage, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, imp := range pkgs[p].Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

func TestImportChain(t *testing.T) {
	pkgs := map[string]listedPackage{
		"a": {Imports: []string{"b", "c"}},
		"b": {Imports: []string{"d"}},
		"c": {Imports: []string{"d", "e"}},
		"d": {Imports: []string{"a"}}, // a cycle is walked once
		"e": {Imports: []string{"f"}},
	}
	cases := []struct {
		from, to string
		want     []string
	}{
		{"a", "e", []string{"a", "c", "e"}},
		{"a", "f", []string{"a", "c", "e", "f"}},
		{"a", "d", []string{"a", "b", "d"}},
		{"e", "a", nil},
		{"a", "x", nil},
	}
	for _, c := range cases {
		if got := importChain(pkgs, c.from, c.to); !slices.Equal(got, c.want) {
			t.Errorf("importChain(%s, %s) = %v; want %v", c.from, c.to, got, c.want)
		}
	}
}
