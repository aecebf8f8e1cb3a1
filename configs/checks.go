package configs

import (
	"fmt"
	"net"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/outpost-edge/outpost/pipeline"
)

// Endpoint is one address a receiver listens on, found in its
// configuration: a string field named endpoint or listen_address.
type Endpoint struct {
	Receiver pipeline.ID
	// Protocol is the key the endpoint sits under (grpc, http, tcp, udp,
	// ...), or the receiver's type when it sits at the receiver's top.
	Protocol string
	// Address is host:port as configured.
	Address string
	// Path is the YAML key path: receivers.otlp.protocols.grpc.endpoint.
	Path string
}

// listenKeys are the YAML keys of listening addresses in receivers'
// configurations (the Collector's names).
var listenKeys = map[string]bool{"endpoint": true, "listen_address": true}

// Endpoints returns the listening addresses of the receivers that the
// pipelines use, sorted by receiver and path.
func (c *Config) Endpoints() []Endpoint {
	var out []Endpoint
	for _, id := range sortedIDs(c.Graph.Receivers) {
		if !c.used(id) {
			continue
		}
		root := join("receivers", id.String())
		walkConfig(reflect.ValueOf(c.Graph.Receivers[id]), root, func(path, key string, v reflect.Value) {
			if !listenKeys[key] || v.Kind() != reflect.String || v.String() == "" {
				return
			}
			proto := id.Type
			if parent := strings.TrimPrefix(strings.TrimSuffix(path, "."+key), root); parent != "" {
				proto = parent[strings.LastIndex(parent, ".")+1:]
			}
			out = append(out, Endpoint{Receiver: id, Protocol: proto, Address: v.String(), Path: path})
		})
	}
	return out
}

// used reports whether a pipeline lists id as a receiver or exporter.
func (c *Config) used(id pipeline.ID) bool {
	for _, pc := range c.Graph.Pipelines {
		for _, ids := range [][]pipeline.ID{pc.Receivers, pc.Exporters, pc.Processors} {
			for _, x := range ids {
				if x == id {
					return true
				}
			}
		}
	}
	return false
}

// walkConfig calls fn for every field reachable from v (through structs,
// non-nil pointers, maps and slices) with its dotted YAML path and its own
// key.
func walkConfig(v reflect.Value, path string, fn func(path, key string, v reflect.Value)) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		for _, f := range structFields(v.Type()) {
			fv := v.FieldByIndex(f.index)
			p := join(path, f.name)
			fn(p, f.name, fv)
			walkConfig(fv, p, fn)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			walkConfig(v.MapIndex(k), join(path, k.String()), fn)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkConfig(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	}
}

// memoryUser is implemented by the queue section of exporters
// (sender.QueueConfig): what a memory queue reserves out of memory_limit.
type memoryUser interface{ MemoryBytes() int64 }

// checkMachine finds what the configuration needs from the machine and
// would make `run` fail after it loaded: a certificate, key, CA, token or
// password file (a key ending in _file) that cannot be read; two
// listeners on one address; memory queues that do not fit memory_limit.
// Only components the pipelines use are checked: the others are not
// started.
func (d *decoder) checkMachine(cfg *Config, sections map[string]*yaml.Node) {
	kinds := []struct {
		section string
		configs map[pipeline.ID]pipeline.Config
	}{
		{"receivers", cfg.Graph.Receivers},
		{"processors", cfg.Graph.Processors},
		{"exporters", cfg.Graph.Exporters},
	}
	var memTotal int64
	var memUsers []string
	var memNode *yaml.Node
	for _, k := range kinds {
		for _, id := range sortedIDs(k.configs) {
			if !cfg.used(id) {
				continue
			}
			node := childKey(sections[k.section], id.String())
			walkConfig(reflect.ValueOf(k.configs[id]), join(k.section, id.String()), func(path, key string, v reflect.Value) {
				if strings.HasSuffix(key, "_file") && v.Kind() == reflect.String && v.String() != "" {
					if err := readable(v.String()); err != nil {
						d.errorf(node, path, "%v", err)
					}
				}
				if v.CanInterface() {
					if m, ok := v.Interface().(memoryUser); ok && m.MemoryBytes() > 0 {
						memTotal += m.MemoryBytes()
						memNode = node
						memUsers = append(memUsers, fmt.Sprintf("%s %s", id, ByteSize(m.MemoryBytes())))
					}
				}
			})
		}
	}
	if cfg.MemoryLimit > 0 && memTotal > int64(cfg.MemoryLimit) {
		if n := sections["memory_limit"]; n != nil {
			memNode = n
		}
		d.errorf(memNode, "memory_limit", "the memory queues' max_bytes add up to %s, more than memory_limit %s (%s): lower their max_bytes, use kind: disk, or raise memory_limit",
			ByteSize(memTotal), cfg.MemoryLimit, strings.Join(memUsers, ", "))
	}
	var bound []Endpoint
	for _, e := range cfg.Endpoints() {
		for _, first := range bound {
			// A UDP socket and a TCP listener may share a port (syslog's
			// tcp and udp default to the same one).
			if (first.Protocol == "udp") == (e.Protocol == "udp") && clash(first.Address, e.Address) {
				d.errorf(childKey(sections["receivers"], e.Receiver.String()), e.Path, "%s: %s already listens on this port (%s): two listeners cannot share a port", e.Address, first.Path, first.Address)
				break
			}
		}
		bound = append(bound, e)
	}
}

// clash reports whether listening on a and on b would take the same port:
// the same port on the same host, or on any host when either is a
// wildcard ("", 0.0.0.0, ::). Port 0 (any free port) never clashes.
func clash(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	local := func(h string) string {
		if h == "localhost" {
			return "127.0.0.1"
		}
		return h
	}
	return wild(ha) || wild(hb) || local(ha) == local(hb)
}

// readable reports why the file at path cannot be read, or nil.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}
