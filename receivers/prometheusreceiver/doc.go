// Package prometheusreceiver scrapes Prometheus endpoints into metrics
// pipelines, on Prometheus's own packages: the scrape manager (scrape
// loops, relabelling, limits, protocol negotiation, staleness tracking,
// the up and scrape_* series) and the discovery manager, configured by
// Prometheus's config package from the receiver's `config:` section
// (global and scrape_configs, as in prometheus.yml).
//
// The receiver is the scrape manager's storage: it implements
// storage.AppendableV2. One appender collects one scrape (its samples with
// their metric family, type, unit, help, start timestamp and exemplars,
// the staleness markers the loop writes, and the report series); Commit
// translates it to pmetric (translate.go documents the mapping, which
// follows OpenTelemetry's Prometheus compatibility specification), charges
// memory_limit for it and hands it to the pipeline. A refused scrape is
// skipped and counted by reason, never retried from memory; the staleness
// markers it held are sent with the target's next accepted scrape, so that
// a series that went away while the pipeline refused still ends.
//
// Service discovery compiled in: static, file, http and dns. The others
// (Kubernetes, Consul, cloud providers) would cost megabytes of client
// libraries and are not registered, so naming them is a configuration
// error.
//
// What it deliberately does not do: adjust counter values or synthesise
// start timestamps (the values are the ones Prometheus stores); keep
// Prometheus's own scrape metrics (prometheus_target_*), which go to a
// registry nobody serves; write scrape failure logs.
package prometheusreceiver
