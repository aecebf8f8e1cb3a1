package pipeline

import (
	"context"
	"sort"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Node is the identity of the node outpost runs on.
type Node struct {
	Name   string
	Site   string
	Region string
	// Labels are added as resource attributes under their own names.
	Labels map[string]string
}

// Resource attribute keys for node identity.
const (
	AttrNodeName   = "node.name"
	AttrNodeSite   = "node.site"
	AttrNodeRegion = "node.region"
)

type kv struct{ k, v string }

// attributes lists the node's resource attributes, in a fixed order.
func (n Node) attributes() []kv {
	var out []kv
	for _, a := range []kv{{AttrNodeName, n.Name}, {AttrNodeSite, n.Site}, {AttrNodeRegion, n.Region}} {
		if a.v != "" {
			out = append(out, a)
		}
	}
	keys := make([]string, 0, len(n.Labels))
	for k := range n.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, kv{k, n.Labels[k]})
	}
	return out
}

// nodeStamper adds node identity to resources that lack it.
type nodeStamper struct{ attrs []kv }

func (s nodeStamper) stamp(res pcommon.Resource) {
	m := res.Attributes()
	for _, a := range s.attrs {
		if _, ok := m.Get(a.k); !ok {
			m.PutStr(a.k, a.v)
		}
	}
}

var mutates = consumer.WithCapabilities(consumer.Capabilities{MutatesData: true})

// wrapTraces returns next unchanged when the node has no identity to add.
func (s nodeStamper) wrapTraces(next consumer.Traces) consumer.Traces {
	if len(s.attrs) == 0 {
		return next
	}
	c, _ := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		if td.IsReadOnly() {
			clone := ptrace.NewTraces()
			td.CopyTo(clone)
			td = clone
		}
		rs := td.ResourceSpans()
		for i := 0; i < rs.Len(); i++ {
			s.stamp(rs.At(i).Resource())
		}
		return next.ConsumeTraces(ctx, td)
	}, mutates)
	return c
}

func (s nodeStamper) wrapMetrics(next consumer.Metrics) consumer.Metrics {
	if len(s.attrs) == 0 {
		return next
	}
	c, _ := consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
		if md.IsReadOnly() {
			clone := pmetric.NewMetrics()
			md.CopyTo(clone)
			md = clone
		}
		rm := md.ResourceMetrics()
		for i := 0; i < rm.Len(); i++ {
			s.stamp(rm.At(i).Resource())
		}
		return next.ConsumeMetrics(ctx, md)
	}, mutates)
	return c
}

func (s nodeStamper) wrapLogs(next consumer.Logs) consumer.Logs {
	if len(s.attrs) == 0 {
		return next
	}
	c, _ := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		if ld.IsReadOnly() {
			clone := plog.NewLogs()
			ld.CopyTo(clone)
			ld = clone
		}
		rl := ld.ResourceLogs()
		for i := 0; i < rl.Len(); i++ {
			s.stamp(rl.At(i).Resource())
		}
		return next.ConsumeLogs(ctx, ld)
	}, mutates)
	return c
}
