// Package forwardconnector implements the `forward` connector: it is an
// exporter in the pipelines that feed it and a receiver in the pipelines it
// feeds, and passes every batch on unchanged to the pipelines of the same
// signal (traces to traces, metrics to metrics, logs to logs). Use it to
// share one set of receivers and processors among several pipelines with
// different processors or exporters, or to merge pipelines.
//
// The component implements the consumer interface of exactly the signals
// some pipeline takes from it. It does not copy, count, buffer or start
// goroutines: the pipeline graph's fan-out copies when more than one
// downstream consumer mutates, and stamps node identity at its output.
// Errors from downstream are returned as they are, so back-pressure and
// retryable/permanent decisions reach the sender.
//
// It reports MutatesData only when a pipeline it feeds mutates data (see
// Capabilities); it never changes data itself. It deliberately does not
// route (by attribute or otherwise) nor convert between signals.
package forwardconnector
