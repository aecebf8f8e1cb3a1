package configs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/outpost-edge/outpost/pipeline"
)

// Config is a loaded, validated configuration.
type Config struct {
	// Path is the file it was read from; Hash a short hash of its bytes
	// (shown in outpost_build_info, so fleet config drift is visible).
	Path string
	Hash string

	Node      NodeConfig
	Storage   StorageConfig
	Uplink    UplinkConfig
	Telemetry TelemetryConfig
	// MemoryLimit (top-level `memory_limit`) is the memory the process may
	// use: receivers refuse new data with back-pressure before the data in
	// flight could take it past this (see pipeline/memlimit). 0 means no
	// limit. Default 256MiB.
	MemoryLimit ByteSize
	// Graph holds the decoded component configurations and pipelines.
	Graph pipeline.GraphConfig
	// Warnings are what the file says that is accepted but probably not
	// meant (a $NAME kept literally); `validate` prints them and `run`
	// logs them.
	Warnings Errors
}

// NodeConfig is the identity of the node (top-level `node`). Each set field
// becomes a resource attribute on everything that passes: node.name,
// node.site, node.region, and each label under its own name.
type NodeConfig struct {
	Name   string            `yaml:"name"`
	Site   string            `yaml:"site"`
	Region string            `yaml:"region"`
	Labels map[string]string `yaml:"labels"`
}

// StorageConfig is where outpost keeps state on disk (top-level `storage`).
type StorageConfig struct {
	// Directory holds every component's on-disk state; it is created at
	// start-up and must be writable. Default ./data.
	Directory string `yaml:"directory"`
	// MaxBytes caps the disk used by all queues together; 0 means no cap
	// beyond each queue's own max_bytes. It is checked when the
	// configuration is loaded: the disk queues' max_bytes must add up to at
	// most this.
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// UplinkConfig is the bandwidth budget shared by every exporter (top-level
// `uplink`). A zero BytesPerSecond means unlimited.
type UplinkConfig struct {
	BytesPerSecond Rate     `yaml:"bytes_per_second"`
	Burst          ByteSize `yaml:"burst"`
}

// TelemetryConfig is outpost's own telemetry (top-level `telemetry`).
type TelemetryConfig struct {
	// Address serves /metrics, /healthz, /readyz and /debug/pprof/.
	// Default 127.0.0.1:8888; empty string disables the server.
	Address string `yaml:"address"`
	// Pprof serves Go's profiles (net/http/pprof) under /debug/pprof/ on
	// Address. Default true; set it false where Address is reachable from
	// other hosts, since profiles show the command line and heap contents.
	Pprof bool       `yaml:"pprof"`
	Logs  LogsConfig `yaml:"logs"`
}

// LogsConfig is outpost's own log output.
type LogsConfig struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// DefaultMemoryLimit is the default memory_limit.
const DefaultMemoryLimit = 256 << 20

func defaultConfig() Config {
	return Config{
		Storage:     StorageConfig{Directory: "./data"},
		MemoryLimit: DefaultMemoryLimit,
		Telemetry:   TelemetryConfig{Address: "127.0.0.1:8888", Pprof: true, Logs: LogsConfig{Level: "info", Format: "text"}},
	}
}

// Load reads and validates the configuration in path, expanding environment
// references from the process environment. Every problem found is returned,
// as Errors.
func Load(path string, f pipeline.Factories) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, f, os.LookupEnv)
}

// Parse validates the configuration in data; name is used in error
// messages.
func Parse(name string, data []byte, f pipeline.Factories, lookupEnv func(string) (string, bool)) (*Config, error) {
	d := &decoder{file: name, unknown: map[pipeline.ID]bool{}, extensions: map[string]bool{}}
	sum := sha256.Sum256(data)
	cfg := defaultConfig()
	cfg.Path = name
	cfg.Hash = hex.EncodeToString(sum[:6])
	cfg.Graph = pipeline.GraphConfig{
		Receivers:  map[pipeline.ID]pipeline.Config{},
		Processors: map[pipeline.ID]pipeline.Config{},
		Exporters:  map[pipeline.ID]pipeline.Config{},
		Connectors: map[pipeline.ID]pipeline.Config{},
		Pipelines:  map[pipeline.ID]pipeline.PipelineConfig{},
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d.errs = append(d.errs, yamlSyntaxError(name, data, err))
		return nil, d.errs
	}
	if len(doc.Content) == 0 {
		d.errorf(nil, "", "the file is empty")
		return nil, d.errs
	}
	root := doc.Content[0]
	d.expandNode(root, "", lookupEnv)

	sections := map[string]*yaml.Node{}
	d.mappingPairs(root, "", func(k, v *yaml.Node) {
		switch k.Value {
		case "node", "storage", "uplink", "memory_limit", "telemetry", "receivers", "processors", "exporters", "connectors", "extensions", "service":
			sections[k.Value] = v
		default:
			d.errorf(k, k.Value, "unknown top-level key %q (valid: node, storage, uplink, memory_limit, telemetry, receivers, processors, connectors, exporters, extensions, service)", k.Value)
		}
	})
	if n := sections["node"]; n != nil {
		d.decode(n, reflectValue(&cfg.Node), "node")
	}
	if n := sections["storage"]; n != nil {
		d.decode(n, reflectValue(&cfg.Storage), "storage")
	}
	if n := sections["uplink"]; n != nil {
		d.decode(n, reflectValue(&cfg.Uplink), "uplink")
	}
	if n := sections["memory_limit"]; n != nil {
		d.decode(n, reflectValue(&cfg.MemoryLimit), "memory_limit")
	}
	if n := sections["telemetry"]; n != nil {
		d.decode(n, reflectValue(&cfg.Telemetry), "telemetry")
	}
	d.validateTop(&cfg, sections)

	kinds := []struct {
		key    string
		create func(typ string) (func() pipeline.Config, []string, bool)
		into   map[pipeline.ID]pipeline.Config
	}{
		{"receivers", func(t string) (func() pipeline.Config, []string, bool) {
			fac, ok := f.Receivers[t]
			return fac.CreateDefaultConfig, keys(f.Receivers), ok
		}, cfg.Graph.Receivers},
		{"processors", func(t string) (func() pipeline.Config, []string, bool) {
			fac, ok := f.Processors[t]
			return fac.CreateDefaultConfig, keys(f.Processors), ok
		}, cfg.Graph.Processors},
		{"exporters", func(t string) (func() pipeline.Config, []string, bool) {
			fac, ok := f.Exporters[t]
			return fac.CreateDefaultConfig, keys(f.Exporters), ok
		}, cfg.Graph.Exporters},
		{"connectors", func(t string) (func() pipeline.Config, []string, bool) {
			fac, ok := f.Connectors[t]
			return fac.CreateDefaultConfig, keys(f.Connectors), ok
		}, cfg.Graph.Connectors},
	}
	defined := map[string]map[pipeline.ID]*yaml.Node{}
	for _, k := range kinds {
		defined[k.key] = d.decodeComponents(sections[k.key], k.key, k.create, k.into)
	}
	if n := sections["extensions"]; n != nil {
		d.mappingPairs(n, "extensions", func(k, _ *yaml.Node) {
			d.extensions[k.Value] = true
			typ, _, _ := strings.Cut(k.Value, "/")
			if h := hint("extensions", typ); h != "" {
				d.errorf(k, join("extensions", k.Value), "unknown extension type %q: %s", typ, h)
				return
			}
			d.errorf(k, join("extensions", k.Value), "unknown extension type %q (this build has no extensions)", typ)
		})
	}
	d.decodeService(sections["service"], &cfg, f, defined)
	d.checkStorage(&cfg, sections["storage"])
	if len(d.errs) == 0 {
		d.checkMachine(&cfg, sections)
	}

	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
		return nil, d.errs
	}
	cfg.Warnings = d.warns
	cfg.Graph.Node = pipeline.Node{Name: cfg.Node.Name, Site: cfg.Node.Site, Region: cfg.Node.Region, Labels: cfg.Node.Labels}
	return &cfg, nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (d *decoder) validateTop(cfg *Config, sections map[string]*yaml.Node) {
	at := func(section string) *yaml.Node { return sections[section] }
	for k := range cfg.Node.Labels {
		if k == "" || strings.ContainsAny(k, " \t\n") {
			d.errorf(at("node"), "node.labels", "label name %q must be non-empty and without spaces", k)
		}
	}
	if cfg.Storage.Directory == "" {
		d.errorf(at("storage"), "storage.directory", "must not be empty")
	}
	if cfg.Storage.MaxBytes < 0 {
		d.errorf(at("storage"), "storage.max_bytes", "must not be negative")
	}
	if cfg.MemoryLimit < 0 {
		d.errorf(at("memory_limit"), "memory_limit", "must not be negative (0 means no limit)")
	}
	if cfg.Uplink.BytesPerSecond < 0 {
		d.errorf(at("uplink"), "uplink.bytes_per_second", "must not be negative")
	}
	if cfg.Uplink.Burst != 0 && cfg.Uplink.BytesPerSecond == 0 {
		d.errorf(at("uplink"), "uplink.burst", "needs uplink.bytes_per_second")
	}
	if a := cfg.Telemetry.Address; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			d.errorf(at("telemetry"), "telemetry.address", "want host:port: %v", err)
		}
	}
	switch cfg.Telemetry.Logs.Level {
	case "debug", "info", "warn", "error":
	default:
		d.errorf(at("telemetry"), "telemetry.logs.level", "must be debug, info, warn or error, not %q", cfg.Telemetry.Logs.Level)
	}
	switch cfg.Telemetry.Logs.Format {
	case "text", "json":
	default:
		d.errorf(at("telemetry"), "telemetry.logs.format", "must be text or json, not %q", cfg.Telemetry.Logs.Format)
	}
}

// checkStorage enforces storage.max_bytes: the disk that exporters may use
// (their disk queues' max_bytes) must add up to at most it.
func (d *decoder) checkStorage(cfg *Config, n *yaml.Node) {
	if cfg.Storage.MaxBytes <= 0 {
		return
	}
	var total int64
	var users []string
	for _, id := range sortedIDs(cfg.Graph.Exporters) {
		if u, ok := cfg.Graph.Exporters[id].(pipeline.StorageUser); ok && u.StorageBytes() > 0 {
			total += u.StorageBytes()
			users = append(users, fmt.Sprintf("%s %s", id, ByteSize(u.StorageBytes())))
		}
	}
	if total > int64(cfg.Storage.MaxBytes) {
		d.errorf(childKey(n, "max_bytes"), "storage.max_bytes", "the disk queues' max_bytes add up to %s, more than %s (%s): lower them or raise storage.max_bytes",
			ByteSize(total), cfg.Storage.MaxBytes, strings.Join(users, ", "))
	}
}

// decodeComponents decodes one of the receivers/processors/exporters/
// connectors sections onto each factory's defaults and validates each.
func (d *decoder) decodeComponents(n *yaml.Node, section string,
	lookup func(string) (func() pipeline.Config, []string, bool), into map[pipeline.ID]pipeline.Config,
) map[pipeline.ID]*yaml.Node {
	nodes := map[pipeline.ID]*yaml.Node{}
	if n == nil || isNull(n) {
		return nodes
	}
	d.mappingPairs(n, section, func(k, v *yaml.Node) {
		path := join(section, k.Value)
		id, err := pipeline.ParseID(k.Value)
		if err != nil {
			d.errorf(k, path, "%v", err)
			return
		}
		create, known, ok := lookup(id.Type)
		if !ok {
			d.unknown[id] = true
			if h := hint(section, id.Type); h != "" {
				d.errorf(k, path, "unknown %s type %q: %s", strings.TrimSuffix(section, "s"), id.Type, h)
				return
			}
			d.errorf(k, path, "unknown %s type %q (this build has: %s)", strings.TrimSuffix(section, "s"), id.Type, strings.Join(known, ", "))
			return
		}
		cfg := create()
		before := len(d.errs)
		d.decode(v, reflectValue(cfg), path)
		if len(d.errs) == before {
			if err := cfg.Validate(); err != nil {
				for _, msg := range splitJoined(err) {
					d.errorf(k, path, "%s", msg)
				}
			}
		}
		into[id] = cfg
		nodes[id] = k
	})
	return nodes
}

// splitJoined flattens errors.Join trees into their messages.
func splitJoined(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

type serviceConfig struct {
	Pipelines  map[string]pipelineConfig `yaml:"pipelines"`
	Extensions []string                  `yaml:"extensions"`
}

type pipelineConfig struct {
	Receivers  []string `yaml:"receivers"`
	Processors []string `yaml:"processors"`
	Exporters  []string `yaml:"exporters"`
}

func (d *decoder) decodeService(n *yaml.Node, cfg *Config, f pipeline.Factories, defined map[string]map[pipeline.ID]*yaml.Node) {
	if n == nil || isNull(n) {
		d.errorf(nil, "service", "missing: define service.pipelines")
		return
	}
	var svc serviceConfig
	if k := childKey(n, "telemetry"); k != nil {
		d.errorf(k, "service.telemetry", "%s", hint("service", "telemetry"))
		n = withoutKey(n, "telemetry")
	}
	d.decode(n, reflectValue(&svc), "service")
	for i, e := range svc.Extensions {
		if d.extensions[e] {
			continue // reported under extensions, with its hint
		}
		d.errorf(n, fmt.Sprintf("service.extensions[%d]", i), "extension %q is not defined (this build has no extensions)", e)
	}
	pipesNode := child(n, "pipelines")
	if pipesNode == nil || len(svc.Pipelines) == 0 {
		d.errorf(n, "service.pipelines", "at least one pipeline is required")
		return
	}
	for _, name := range keys(svc.Pipelines) {
		pc := svc.Pipelines[name]
		path := "service.pipelines." + name
		pnode := child(pipesNode, name)
		keyNode := childKey(pipesNode, name)
		pid, err := pipeline.ParseID(name)
		if err != nil {
			d.errorf(keyNode, path, "%v", err)
			continue
		}
		sig, err := pipeline.ParseSignal(pid.Type)
		if err != nil {
			d.errorf(keyNode, path, "a pipeline is named signal or signal/name: %v", err)
			continue
		}
		isConn := func(id pipeline.ID) bool { _, ok := defined["connectors"][id]; return ok }
		// Each list's check says why a listed ID does not fit this
		// pipeline, or returns "".
		lists := []struct {
			name  string
			items []string
			into  *[]pipeline.ID
			check func(s string, id pipeline.ID) string
		}{
			{"receivers", pc.Receivers, new([]pipeline.ID), func(s string, id pipeline.ID) string {
				if _, ok := defined["receivers"][id]; ok {
					if !hasSignal(f.Receivers[id.Type].Signals, sig) {
						return fmt.Sprintf("receiver %q does not produce %s", s, sig)
					}
				} else if !isConn(id) {
					return fmt.Sprintf("receiver %q is not defined under receivers (or connectors)", s)
				}
				return ""
			}},
			{"processors", pc.Processors, new([]pipeline.ID), func(s string, id pipeline.ID) string {
				if _, ok := defined["processors"][id]; !ok {
					return fmt.Sprintf("processor %q is not defined under processors", s)
				}
				if !f.Processors[id.Type].Supports(sig) {
					return fmt.Sprintf("processor %q does not support %s", s, sig)
				}
				return ""
			}},
			{"exporters", pc.Exporters, new([]pipeline.ID), func(s string, id pipeline.ID) string {
				if _, ok := defined["exporters"][id]; ok {
					if !hasSignal(f.Exporters[id.Type].Signals, sig) {
						return fmt.Sprintf("exporter %q does not accept %s", s, sig)
					}
				} else if !isConn(id) {
					return fmt.Sprintf("exporter %q is not defined under exporters (or connectors)", s)
				}
				return ""
			}},
		}
		for _, l := range lists {
			seen := map[string]bool{}
			for i, s := range l.items {
				node, p := pnode, fmt.Sprintf("%s.%s[%d]", path, l.name, i)
				if seq := child(pnode, l.name); seq != nil && seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
					node = seq.Content[i]
				}
				id, err := pipeline.ParseID(s)
				switch {
				case err != nil:
					d.errorf(node, p, "%v", err)
					continue
				case seen[s]:
					d.errorf(node, p, "%q is listed twice", s)
				case d.unknown[id]:
					// reported where it is defined, once
				default:
					if msg := l.check(s, id); msg != "" {
						d.errorf(node, p, "%s", msg)
					}
				}
				seen[s] = true
				*l.into = append(*l.into, id)
			}
		}
		out := pipeline.PipelineConfig{Receivers: *lists[0].into, Processors: *lists[1].into, Exporters: *lists[2].into}
		if len(pc.Receivers) == 0 {
			d.errorf(keyNode, path+".receivers", "a pipeline needs at least one receiver")
		}
		if len(pc.Exporters) == 0 {
			d.errorf(keyNode, path+".exporters", "a pipeline needs at least one exporter")
		}
		cfg.Graph.Pipelines[pid] = out
	}
	d.checkConnectors(cfg, f, defined["connectors"])
}

// checkConnectors checks that each connector in use is both fed and read,
// and can connect the signals it sits between.
func (d *decoder) checkConnectors(cfg *Config, f pipeline.Factories, conns map[pipeline.ID]*yaml.Node) {
	for _, id := range sortedIDs(conns) {
		ins, outs := map[pipeline.Signal]bool{}, map[pipeline.Signal]bool{}
		for pid, pc := range cfg.Graph.Pipelines {
			for _, e := range pc.Exporters {
				if e == id {
					ins[pipeline.Signal(pid.Type)] = true
				}
			}
			for _, r := range pc.Receivers {
				if r == id {
					outs[pipeline.Signal(pid.Type)] = true
				}
			}
		}
		path := "connectors." + id.String()
		switch {
		case len(ins) == 0 && len(outs) == 0:
			continue // defined but unused, like any component
		case len(ins) == 0:
			d.errorf(conns[id], path, "used as a receiver but no pipeline exports to it")
		case len(outs) == 0:
			d.errorf(conns[id], path, "used as an exporter but no pipeline takes it as a receiver")
		}
		fac := f.Connectors[id.Type]
		for _, in := range pipeline.Signals {
			ok := false
			for out := range outs {
				ok = ok || fac.Supports(in, out)
			}
			if ins[in] && !ok {
				d.errorf(conns[id], path, "connector type %q takes %s but no pipeline it feeds can receive what it makes of %s", id.Type, in, in)
			}
		}
		for _, out := range pipeline.Signals {
			ok := false
			for in := range ins {
				ok = ok || fac.Supports(in, out)
			}
			if outs[out] && !ok {
				d.errorf(conns[id], path, "connector type %q feeds a %s pipeline but no pipeline sends it anything it can turn into %s", id.Type, out, out)
			}
		}
	}
}

func sortedIDs[V any](m map[pipeline.ID]V) []pipeline.ID {
	out := make([]pipeline.ID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func hasSignal(ss []pipeline.Signal, s pipeline.Signal) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func childKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

// AsErrors returns the located errors in err, if it holds any.
func AsErrors(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	return nil, false
}

// Decode decodes one component's YAML section (src) onto cfg, which holds
// the factory's defaults, with the same strict rules as Load, but without
// calling Validate. Component tests use it to decode their testdata exactly
// as a configuration file would be decoded.
func Decode(name string, src []byte, cfg pipeline.Config) error {
	d := &decoder{file: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return Errors{yamlSyntaxError(name, src, err)}
	}
	if len(doc.Content) > 0 {
		d.expandNode(doc.Content[0], "", os.LookupEnv)
		d.decode(doc.Content[0], reflectValue(cfg), "")
	}
	if len(d.errs) > 0 {
		return d.errs
	}
	return nil
}
