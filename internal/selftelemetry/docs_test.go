package selftelemetry

import (
	"os"
	"regexp"
	"testing"
)

// documented reads the metric names listed in docs/metrics.md.
func documented(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `((?:outpost|go|process)_[a-z0-9_]*)` \\|").FindAllSubmatch(b, -1) {
		names[string(m[1])] = true
	}
	return names
}

func TestDocsListEveryMetric(t *testing.T) {
	docs := documented(t)
	m := New()
	declared := map[string]bool{}
	for _, f := range m.Families() {
		declared[f.Name] = true
		if !docs[f.Name] {
			t.Errorf("docs/metrics.md does not list %s", f.Name)
		}
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		declared[f.GetName()] = true
		if !docs[f.GetName()] {
			t.Errorf("docs/metrics.md does not list %s", f.GetName())
		}
	}
	for name := range docs {
		if !declared[name] {
			t.Errorf("docs/metrics.md lists %s, which outpost does not define", name)
		}
	}
}
