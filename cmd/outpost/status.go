package main

import (
	"slices"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// logRingSize is how many of the last warnings and errors the status page
// keeps.
const logRingSize = 50

// statusTopology is the running configuration's pipelines as the status
// page draws them, in pipeline ID order.
func statusTopology(cfg *configs.Config) selftelemetry.Topology {
	ids := func(in []pipeline.ID) []string {
		out := make([]string, len(in))
		for i, id := range in {
			out[i] = id.String()
		}
		return out
	}
	var t selftelemetry.Topology
	for id, p := range cfg.Graph.Pipelines {
		t.Pipelines = append(t.Pipelines, selftelemetry.TopologyPipeline{
			ID: id.String(), Signal: id.Type,
			Receivers: ids(p.Receivers), Processors: ids(p.Processors), Exporters: ids(p.Exporters),
		})
	}
	slices.SortFunc(t.Pipelines, func(a, b selftelemetry.TopologyPipeline) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	for id := range cfg.Graph.Connectors {
		t.Connectors = append(t.Connectors, id.String())
	}
	slices.Sort(t.Connectors)
	return t
}

// showTopology hands the running graph's pipelines to the status page.
func (s *service) showTopology(cfg *configs.Config) {
	if s.server != nil {
		s.server.SetTopology(statusTopology(cfg))
	}
}
