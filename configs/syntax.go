package configs

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlSyntaxError locates a YAML syntax error in data. The YAML library
// reports the line where the construct around the problem began (an
// indentation error on line 6 can be reported on line 1) and no column, so
// the error is located again: the problem is on the first line at which the
// document, cut after that line, stops parsing. The column is that line's
// first tab in its indentation, or else its first non-blank character
// (1-based, as the decoder's columns are). A tab in the indentation is named
// as such: YAML indents with spaces only.
func yamlSyntaxError(name string, data []byte, err error) *Error {
	e := &Error{File: name, Msg: "YAML syntax: " + yamlMessage(err)}
	lines := bytes.SplitAfter(data, []byte("\n"))
	// The problem is on the line after the longest prefix that parses: a
	// construct that spans lines (a flow list, a quoted string) makes the
	// prefixes inside it fail, but a later prefix that closes it parses.
	bad, badErr, end := -1, err, 0
	for i, l := range lines {
		end += len(l)
		var probe yaml.Node
		if perr := yaml.Unmarshal(data[:end], &probe); perr == nil {
			bad = -1
		} else if bad < 0 {
			bad, badErr = i, perr
		}
	}
	if bad < 0 {
		// Cannot happen: the last prefix is the whole document. Keep the
		// library's own line.
		var line int
		if _, scanErr := fmt.Sscanf(err.Error(), "yaml: line %d:", &line); scanErr == nil {
			e.Line = line
		}
		return e
	}
	e.Line = bad + 1
	text := strings.TrimRight(string(lines[bad]), "\r\n")
	indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
	if tab := strings.IndexByte(indent, '\t'); tab >= 0 {
		e.Column = tab + 1
		e.Msg = "YAML syntax: a tab character in the indentation (YAML indents with spaces only)"
		return e
	}
	e.Column = len(indent) + 1
	e.Msg = "YAML syntax: " + yamlMessage(badErr)
	return e
}

// yamlMessage is the library's message without its "yaml: line N: "
// prefix.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return msg
}
