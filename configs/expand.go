package configs

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// envRef matches ${env:NAME} and ${env:NAME:-default}. "$$" stands for a
// literal "$".
var envRef = regexp.MustCompile(`\$\$|\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandString replaces environment references in s. A reference to an
// unset variable without a default is an error: an edge node with a typo in
// its environment should fail loudly, not run with an empty endpoint.
func expandString(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := envRef.FindStringSubmatch(m)
		if v, ok := lookup(sub[1]); ok && v != "" {
			return v
		}
		if sub[2] != "" {
			return sub[3]
		}
		missing = append(missing, sub[1])
		return ""
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set and has no default (write ${env:%s:-default})", missing[0], missing[0])
	}
	if strings.Contains(envRef.ReplaceAllString(s, ""), "${") {
		return "", fmt.Errorf("unsupported reference in %q: only ${env:NAME} and ${env:NAME:-default} are expanded ($$ is a literal $)", s)
	}
	return out, nil
}

// expandNode expands environment references in every scalar value (never
// in keys) of the tree, in place. An expanded value that was a plain YAML
// string is re-tagged by its new content, so that `${env:PORT}` can fill an
// integer field and `${env:DEBUG}` a boolean one.
func (d *decoder) expandNode(n *yaml.Node, path string, lookup func(string) (string, bool)) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			d.expandNode(c, p, lookup)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.expandNode(n.Content[i+1], join(path, n.Content[i].Value), lookup)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := expandString(n.Value, lookup)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		if v != n.Value {
			n.Value = v
			if n.Style == 0 {
				n.Tag = ""
				var probe yaml.Node
				if yaml.Unmarshal([]byte(v), &probe) == nil && len(probe.Content) == 1 && probe.Content[0].Kind == yaml.ScalarNode {
					n.Tag = probe.Content[0].Tag
				} else {
					n.Tag = "!!str"
				}
			}
		}
	}
}
