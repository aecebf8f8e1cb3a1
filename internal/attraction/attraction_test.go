package attraction

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// attrs builds a map from alternating keys and raw values.
func attrs(t *testing.T, kv ...any) pcommon.Map {
	t.Helper()
	m := pcommon.NewMap()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := m.PutEmpty(kv[i].(string)).FromRaw(kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestApply(t *testing.T) {
	base := func(t *testing.T) pcommon.Map {
		return attrs(t, "user", "alice", "n", int64(7), "d", 2.5, "b", true, "path", "/api/v1/users/42/orders", "s", "12")
	}
	for _, tc := range []struct {
		name    string
		actions []Action
		want    map[string]any
	}{
		{"insert new", []Action{{Key: "env", Value: "prod", Action: "insert"}},
			map[string]any{"env": "prod"}},
		{"insert keeps existing", []Action{{Key: "user", Value: "bob", Action: "insert"}},
			map[string]any{}},
		{"insert from attribute", []Action{{Key: "who", FromAttribute: "user", Action: "insert"}},
			map[string]any{"who": "alice"}},
		{"insert from missing attribute", []Action{{Key: "who", FromAttribute: "nobody", Action: "insert"}},
			map[string]any{}},
		{"insert list value", []Action{{Key: "tags", Value: []any{"a", int64(1)}, Action: "insert"}},
			map[string]any{"tags": []any{"a", int64(1)}}},
		{"update existing", []Action{{Key: "user", Value: "bob", Action: "update"}},
			map[string]any{"user": "bob"}},
		{"update absent does nothing", []Action{{Key: "env", Value: "prod", Action: "update"}},
			map[string]any{}},
		{"update from attribute", []Action{{Key: "user", FromAttribute: "n", Action: "update"}},
			map[string]any{"user": int64(7)}},
		{"upsert absent", []Action{{Key: "env", Value: 3, Action: "upsert"}},
			map[string]any{"env": int64(3)}},
		{"upsert existing", []Action{{Key: "n", Value: "seven", Action: "UPSERT"}},
			map[string]any{"n": "seven"}},
		{"delete key", []Action{{Key: "user", Action: "delete"}},
			map[string]any{"user": nil}},
		{"delete pattern", []Action{{Pattern: "^[nd]$", Action: "delete"}},
			map[string]any{"n": nil, "d": nil}},
		{"hash string", []Action{{Key: "user", Action: "hash"}},
			map[string]any{"user": sha([]byte("alice"))}},
		{"hash int little endian", []Action{{Key: "n", Action: "hash"}},
			map[string]any{"n": sha([]byte{7, 0, 0, 0, 0, 0, 0, 0})}},
		{"hash double bits", []Action{{Key: "d", Action: "hash"}},
			map[string]any{"d": sha([]byte{0, 0, 0, 0, 0, 0, 4, 0x40})}},
		{"hash bool", []Action{{Key: "b", Action: "hash"}},
			map[string]any{"b": sha([]byte{1})}},
		{"hash pattern", []Action{{Pattern: "^(user|s)$", Action: "hash"}},
			map[string]any{"user": sha([]byte("alice")), "s": sha([]byte("12"))}},
		{"extract named groups", []Action{{Key: "path", Pattern: `^/api/(?P<version>v\d+)/users/(?P<user_id>\d+)/`, Action: "extract"}},
			map[string]any{"version": "v1", "user_id": "42"}},
		{"extract overwrites", []Action{{Key: "path", Pattern: `/users/(?P<user>\d+)`, Action: "extract"}},
			map[string]any{"user": "42"}},
		{"extract no match", []Action{{Key: "path", Pattern: `^/other/(?P<x>.*)`, Action: "extract"}},
			map[string]any{}},
		{"extract non-string", []Action{{Key: "n", Pattern: `(?P<x>.*)`, Action: "extract"}},
			map[string]any{}},
		{"convert string to int", []Action{{Key: "s", Action: "convert", ConvertedType: "int"}},
			map[string]any{"s": int64(12)}},
		{"convert bad string stays", []Action{{Key: "user", Action: "convert", ConvertedType: "int"}},
			map[string]any{}},
		{"convert double to int truncates", []Action{{Key: "d", Action: "convert", ConvertedType: "int"}},
			map[string]any{"d": int64(2)}},
		{"convert int to double", []Action{{Key: "n", Action: "convert", ConvertedType: "double"}},
			map[string]any{"n": 7.0}},
		{"convert bool to int", []Action{{Key: "b", Action: "convert", ConvertedType: "int"}},
			map[string]any{"b": int64(1)}},
		{"convert to string", []Action{{Key: "d", Action: "convert", ConvertedType: "string"}},
			map[string]any{"d": "2.5"}},
		{"actions run in order", []Action{
			{Key: "copy", FromAttribute: "user", Action: "insert"},
			{Key: "user", Action: "delete"},
			{Key: "copy", Action: "hash"},
		}, map[string]any{"copy": sha([]byte("alice")), "user": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Compile("actions", tc.actions)
			if err != nil {
				t.Fatal(err)
			}
			m := base(t)
			want := base(t).AsRaw()
			for k, v := range tc.want {
				if v == nil {
					delete(want, k)
				} else {
					want[k] = v
				}
			}
			a.Apply(m)
			got := m.AsRaw()
			if len(got) != len(want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
			for k, w := range want {
				g, ok := got[k]
				if !ok {
					t.Errorf("%s missing, want %v", k, w)
					continue
				}
				gv, wv := pcommon.NewValueEmpty(), pcommon.NewValueEmpty()
				_ = gv.FromRaw(g)
				_ = wv.FromRaw(w)
				if !gv.Equal(wv) {
					t.Errorf("%s = %v (%s), want %v (%s)", k, g, gv.Type(), w, wv.Type())
				}
			}
		})
	}
}

func TestHashValueEmptyForComposites(t *testing.T) {
	v := pcommon.NewValueMap()
	v.Map().PutStr("a", "b")
	HashValue(v)
	if v.Type() != pcommon.ValueTypeStr || v.Str() != "" {
		t.Fatalf("hash of a map = %v, want empty string", v.AsRaw())
	}
	// The digest of the well-known test vector "abc".
	s := pcommon.NewValueStr("abc")
	HashValue(s)
	if s.Str() != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("sha256(abc) = %s", s.Str())
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		actions []Action
		want    []string
	}{
		{"no action", []Action{{Key: "a", Value: "x"}}, []string{"actions[0].action: required"}},
		{"unknown action", []Action{{Key: "a", Action: "rename"}}, []string{`actions[0].action: unknown action "rename"`}},
		{"insert without key", []Action{{Value: "x", Action: "insert"}}, []string{"actions[0].key: required"}},
		{"insert without value", []Action{{Key: "a", Action: "insert"}}, []string{"actions[0].value: action \"insert\" needs exactly one of value and from_attribute"}},
		{"upsert with both", []Action{{Key: "a", Value: "x", FromAttribute: "b", Action: "upsert"}}, []string{"actions[0].value: action \"upsert\" needs exactly one"}},
		{"update with pattern", []Action{{Key: "a", Value: "x", Pattern: "a", Action: "update"}}, []string{"actions[0].pattern: not used"}},
		{"delete needs key or pattern", []Action{{Action: "delete"}}, []string{"actions[0].key: action \"delete\" needs exactly one of key and pattern"}},
		{"hash with both", []Action{{Key: "a", Pattern: "b", Action: "hash"}}, []string{"actions[0].key: action \"hash\" needs exactly one"}},
		{"bad pattern", []Action{{Pattern: "(", Action: "delete"}}, []string{"actions[0].pattern: invalid regular expression"}},
		{"extract unnamed", []Action{{Key: "a", Pattern: "(x)", Action: "extract"}}, []string{"actions[0].pattern: needs at least one named subexpression"}},
		{"extract no pattern", []Action{{Key: "a", Action: "extract"}}, []string{"actions[0].pattern: required"}},
		{"convert bad type", []Action{{Key: "a", Action: "convert", ConvertedType: "float"}}, []string{`actions[0].converted_type: must be int, double or string (got "float")`}},
		{"converted_type elsewhere", []Action{{Key: "a", Value: 1, Action: "insert", ConvertedType: "int"}}, []string{"actions[0].converted_type: only used by action \"convert\""}},
		{"every entry reported", []Action{{Key: "a", Action: "insert"}, {Action: "hash"}}, []string{"actions[0].value:", "actions[1].key:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile("actions", tc.actions)
			if err == nil {
				t.Fatalf("Compile: nil error, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}
