package main

import (
	"github.com/outpost-edge/outpost/connectors/forwardconnector"
	"github.com/outpost-edge/outpost/connectors/spanmetricsconnector"
	"github.com/outpost-edge/outpost/exporters/debugexporter"
	"github.com/outpost-edge/outpost/exporters/fileexporter"
	"github.com/outpost-edge/outpost/exporters/jaegerexporter"
	"github.com/outpost-edge/outpost/exporters/lokiexporter"
	"github.com/outpost-edge/outpost/exporters/otlpexporter"
	"github.com/outpost-edge/outpost/exporters/prometheusremotewriteexporter"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/processors/aggregateprocessor"
	"github.com/outpost-edge/outpost/processors/attributesprocessor"
	"github.com/outpost-edge/outpost/processors/batchprocessor"
	"github.com/outpost-edge/outpost/processors/cardinalitylimitprocessor"
	"github.com/outpost-edge/outpost/processors/filterprocessor"
	"github.com/outpost-edge/outpost/processors/logdedupprocessor"
	"github.com/outpost-edge/outpost/processors/probabilisticsamplerprocessor"
	"github.com/outpost-edge/outpost/processors/redactionprocessor"
	"github.com/outpost-edge/outpost/processors/resourceprocessor"
	"github.com/outpost-edge/outpost/processors/tailsamplingprocessor"
	"github.com/outpost-edge/outpost/processors/throttleprocessor"
	"github.com/outpost-edge/outpost/receivers/filelogreceiver"
	"github.com/outpost-edge/outpost/receivers/hostmetricsreceiver"
	"github.com/outpost-edge/outpost/receivers/journaldreceiver"
	"github.com/outpost-edge/outpost/receivers/lokireceiver"
	"github.com/outpost-edge/outpost/receivers/otlpreceiver"
	"github.com/outpost-edge/outpost/receivers/outpostreceiver"
	"github.com/outpost-edge/outpost/receivers/prometheusreceiver"
	"github.com/outpost-edge/outpost/receivers/prometheusremotewritereceiver"
	"github.com/outpost-edge/outpost/receivers/syslogreceiver"
)

// components lists every component this binary can run. Adding one is a
// line here; nothing registers itself.
func components() pipeline.Factories {
	f := pipeline.Factories{
		Receivers:  map[string]pipeline.ReceiverFactory{},
		Processors: map[string]pipeline.ProcessorFactory{},
		Exporters:  map[string]pipeline.ExporterFactory{},
		Connectors: map[string]pipeline.ConnectorFactory{},
	}
	for _, r := range []pipeline.ReceiverFactory{
		otlpreceiver.NewFactory(),
		hostmetricsreceiver.NewFactory(),
		outpostreceiver.NewFactory(),
		syslogreceiver.NewFactory(),
		prometheusremotewritereceiver.NewFactory(),
		lokireceiver.NewFactory(),
		journaldreceiver.NewFactory(),
		filelogreceiver.NewFactory(),
		prometheusreceiver.NewFactory(),
	} {
		f.Receivers[r.Type] = r
	}
	for _, p := range []pipeline.ProcessorFactory{
		batchprocessor.NewFactory(),
		cardinalitylimitprocessor.NewFactory(),
		logdedupprocessor.NewFactory(),
		probabilisticsamplerprocessor.NewFactory(),
		throttleprocessor.NewFactory(),
		attributesprocessor.NewFactory(),
		resourceprocessor.NewFactory(),
		filterprocessor.NewFactory(),
		redactionprocessor.NewFactory(),
		aggregateprocessor.NewFactory(),
		tailsamplingprocessor.NewFactory(),
	} {
		f.Processors[p.Type] = p
	}
	for _, e := range []pipeline.ExporterFactory{
		otlpexporter.NewFactory(),
		otlpexporter.NewHTTPFactory(),
		debugexporter.NewFactory(),
		fileexporter.NewFactory(),
		prometheusremotewriteexporter.NewFactory(),
		lokiexporter.NewFactory(),
		jaegerexporter.NewFactory(),
	} {
		f.Exporters[e.Type] = e
	}
	for _, c := range []pipeline.ConnectorFactory{
		forwardconnector.NewFactory(),
		spanmetricsconnector.NewFactory(),
	} {
		f.Connectors[c.Type] = c
	}
	return f
}
