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

// bareRef matches what a shell or the Collector's older configs would
// expand but outpost does not: $NAME and ${NAME}. They are kept literally,
// with a warning.
var bareRef = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*`)

// expandString replaces environment references in s. A reference to an
// unset variable without a default is an error: an edge node with a typo in
// its environment should fail loudly, not run with an empty endpoint. A
// variable set to the empty string expands to "" (as in the Collector);
// ${env:NAME:-default} gives the default only when NAME is unset or empty,
// as in a POSIX shell. The warnings name each $NAME or ${NAME} kept
// literally.
func expandString(s string, lookup func(string) (string, bool)) (string, []string, error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := envRef.FindStringSubmatch(m)
		v, ok := lookup(sub[1])
		if sub[2] != "" {
			if ok && v != "" {
				return v
			}
			return sub[3]
		}
		if ok {
			return v
		}
		missing = append(missing, sub[1])
		return ""
	})
	if len(missing) > 0 {
		return "", nil, fmt.Errorf("environment variable %s is not set and has no default (write ${env:%s:-default})", missing[0], missing[0])
	}
	rest := envRef.ReplaceAllString(s, "")
	var warns []string
	for _, ref := range bareRef.FindAllString(rest, -1) {
		name := strings.Trim(ref, "${}")
		warns = append(warns, fmt.Sprintf("%s is kept literally: outpost expands only ${env:%s} (write $$ for a literal $)", ref, name))
	}
	if strings.Contains(bareRef.ReplaceAllString(rest, ""), "${") {
		return "", nil, fmt.Errorf("unsupported reference in %q: only ${env:NAME} and ${env:NAME:-default} are expanded ($$ is a literal $)", s)
	}
	return out, warns, nil
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
		v, warns, err := expandString(n.Value, lookup)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		for _, w := range warns {
			d.warnf(n, path, "%s", w)
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
