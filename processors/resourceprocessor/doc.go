// Package resourceprocessor implements the resource processor
// ("resource"): it runs attribute actions (insert, update, upsert, delete,
// hash, extract, convert; see internal/attraction) on the resource
// attributes of every batch, for all three signals, with the configuration
// keys of the OpenTelemetry Collector contrib's resourceprocessor.
//
// It changes batches in place and synchronously (internal/inplace), holds
// no state and drops nothing. Resources that become equal are not merged.
// Node identity (the top-level `node` section) is stamped by the pipeline
// before processors run, so the resource processor sees and may change
// node.name and friends like any other attribute.
package resourceprocessor
