package configs

import (
	"bytes"
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/pipeline"
)

// Effective returns the configuration as it runs, as YAML: every section
// and every component with the defaults filled in and ${env:...}
// references expanded, in the shape of the file (the same keys), so that
// it can be loaded again. Secrets are replaced by clientconfig.Redacted: a
// clientconfig.Secret, every value of clientconfig.Headers, and any string
// under a key named password, token, secret or api_key. `outpost
// print-config` prints it.
func (c *Config) Effective() ([]byte, error) {
	root := mapping()
	add := func(key string, v *yaml.Node) { root.Content = append(root.Content, scalarNode(key), v) }
	add("node", encodeValue(reflect.ValueOf(c.Node), ""))
	add("storage", encodeValue(reflect.ValueOf(c.Storage), ""))
	add("uplink", encodeValue(reflect.ValueOf(c.Uplink), ""))
	add("memory_limit", encodeValue(reflect.ValueOf(c.MemoryLimit), ""))
	add("telemetry", encodeValue(reflect.ValueOf(c.Telemetry), ""))
	for _, k := range []struct {
		key string
		m   map[pipeline.ID]pipeline.Config
	}{
		{"receivers", c.Graph.Receivers},
		{"processors", c.Graph.Processors},
		{"exporters", c.Graph.Exporters},
		{"connectors", c.Graph.Connectors},
	} {
		sec := mapping()
		for _, id := range sortedIDs(k.m) {
			sec.Content = append(sec.Content, scalarNode(id.String()), encodeValue(reflect.ValueOf(k.m[id]), ""))
		}
		add(k.key, sec)
	}
	pipes := mapping()
	for _, pid := range sortedIDs(c.Graph.Pipelines) {
		pc := c.Graph.Pipelines[pid]
		p := mapping()
		for _, l := range []struct {
			key string
			ids []pipeline.ID
		}{{"receivers", pc.Receivers}, {"processors", pc.Processors}, {"exporters", pc.Exporters}} {
			seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, id := range l.ids {
				seq.Content = append(seq.Content, scalarNode(id.String()))
			}
			p.Content = append(p.Content, scalarNode(l.key), seq)
		}
		pipes.Content = append(pipes.Content, scalarNode(pid.String()), p)
	}
	svc := mapping()
	svc.Content = append(svc.Content, scalarNode("pipelines"), pipes)
	add("service", svc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode the effective configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode the effective configuration: %w", err)
	}
	return buf.Bytes(), nil
}

var (
	secretType          = reflect.TypeFor[clientconfig.Secret]()
	headersType         = reflect.TypeFor[clientconfig.Headers]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	secretKeys          = map[string]bool{"password": true, "token": true, "secret": true, "api_key": true}
	redactedPlaceholder = clientconfig.Redacted
)

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func scalarNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func typedScalar(tag, s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s}
}

// NodeEncoder is the other half of NodeDecoder: a value written in another
// project's syntax gives the YAML node Effective prints for it, with that
// project's defaults filled in and its secrets redacted, in a shape its
// DecodeYAMLNode accepts again.
type NodeEncoder interface {
	EncodeYAMLNode() (*yaml.Node, error)
}

var nodeEncoderType = reflect.TypeFor[NodeEncoder]()

// encodeValue is the inverse of decoder.decode: key is the YAML key v sits
// under (for the secret-key rule).
func encodeValue(v reflect.Value, key string) *yaml.Node {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return typedScalar("!!null", "null")
		}
		if v.Type().Implements(nodeEncoderType) {
			n, err := v.Interface().(NodeEncoder).EncodeYAMLNode()
			if err != nil {
				return scalarNode(fmt.Sprintf("<%v>", err))
			}
			return n
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == secretType:
		if v.String() == "" {
			return scalarNode("")
		}
		return scalarNode(redactedPlaceholder)
	case v.Type() == headersType:
		m := mapping()
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			m.Content = append(m.Content, scalarNode(k.String()), scalarNode(redactedPlaceholder))
		}
		return m
	case v.Type() == durationType:
		return scalarNode(time.Duration(v.Int()).String())
	case v.Type().Implements(textMarshalerType):
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return scalarNode(fmt.Sprintf("<%v>", err))
		}
		return scalarNode(string(b))
	case reflect.PointerTo(v.Type()).Implements(textMarshalerType) && v.CanAddr():
		b, err := v.Addr().Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return scalarNode(fmt.Sprintf("<%v>", err))
		}
		return scalarNode(string(b))
	}
	switch v.Kind() {
	case reflect.Struct:
		m := mapping()
		for _, f := range structFields(v.Type()) {
			fv := v.FieldByIndex(f.index)
			// A nil pointer is a section that is off; naming it (even
			// as null) would turn it on with its defaults.
			// Nil lists and maps are left out too: some components tell
			// "not set" from "empty".
			if fv.Kind() == reflect.Func || fv.Kind() == reflect.Chan || fv.Kind() == reflect.Interface && fv.IsNil() ||
				(fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.IsNil() {
				continue
			}
			m.Content = append(m.Content, scalarNode(f.name), encodeValue(fv, f.name))
		}
		return m
	case reflect.Map:
		m := mapping()
		if v.Type().Key().Kind() != reflect.String {
			return m
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			m.Content = append(m.Content, scalarNode(k.String()), encodeValue(v.MapIndex(k), k.String()))
		}
		return m
	case reflect.Slice, reflect.Array:
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := 0; i < v.Len(); i++ {
			seq.Content = append(seq.Content, encodeValue(v.Index(i), key))
		}
		return seq
	case reflect.String:
		if secretKeys[key] && v.String() != "" {
			return scalarNode(redactedPlaceholder)
		}
		return scalarNode(v.String())
	case reflect.Bool:
		return typedScalar("!!bool", strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return typedScalar("!!int", strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return typedScalar("!!int", strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		f := strconv.FormatFloat(v.Float(), 'g', -1, 64)
		if !strings.ContainsAny(f, ".eIN") {
			f += ".0" // 1.0, so that the plain scalar reads as a float
		}
		return typedScalar("!!float", f)
	}
	return typedScalar("!!null", "null")
}
