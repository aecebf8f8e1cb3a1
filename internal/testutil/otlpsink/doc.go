// Package otlpsink is an OTLP server for tests and load harnesses: it
// accepts OTLP/gRPC and OTLP/HTTP (protobuf and JSON bodies, gzip and zstd
// compression) on free 127.0.0.1 ports, counts what it receives, optionally
// keeps it for inspection, records request headers and compression, and
// can be told to fail requests the way a real backend does (UNAVAILABLE,
// RESOURCE_EXHAUSTED with RetryInfo, 429 with Retry-After, 503, partial
// success).
//
// It is built on pdata's p*otlp packages, so what it decodes is what any
// OTLP backend would. The receive path is allocation-light, so that it can
// take 100k items/s in a load benchmark without skewing it: counters are
// atomic, buffers are pooled, retention and request records are off unless
// asked for (Options), and when nothing is kept a protobuf body is not
// decoded at all: its items are counted by walking the wire format (the
// count agrees with pdata's; a fuzz test holds it to that). JSON bodies,
// and any body when KeepItems > 0, are decoded with pdata.
//
// New and Close suit a harness outside `go test`; Start and StartWith
// suit tests (the sink closes itself at the test's end).
//
// It is not a receiver: it does no admission control, keeps no queue and
// implements no part of outpost's pipeline contract.
package otlpsink
