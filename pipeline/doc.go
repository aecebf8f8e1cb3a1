// Package pipeline holds outpost's component contracts and the engine that
// wires components into a running graph.
//
// Data flows receivers → processors → exporters. A receiver is created once
// per configured ID and is handed one consumer per signal it feeds; a
// processor is created once per pipeline it appears in; an exporter or a
// connector is created once per ID and shared by every pipeline that names
// it. Connectors are exporters in one pipeline and receivers in another.
//
// The consumer contract is the OpenTelemetry Collector's
// (go.opentelemetry.io/collector/consumer): the callee owns the data it is
// given, and a fan-out copies only when more than one of its consumers
// declares that it mutates data.
//
// Node identity (the top-level `node` section) is applied here, once, at the
// output of every receiver and connector, before the fan-out to pipelines:
// each resource gets node.name, node.site, node.region and the configured
// labels as attributes unless it already carries them, so that data relayed
// from another outpost keeps the identity of the node that first saw it.
//
// The package does not decode YAML (see configs) and knows no concrete
// component; cmd/outpost builds the Factories value explicitly.
package pipeline
