// Package memlimit bounds the bytes that data in flight may hold across
// receivers, processors and exporters: the top-level `memory_limit`.
//
// A receiver asks the Limiter for a request's estimated in-memory size
// before it decodes the request, and gives the bytes back once the pipeline
// has answered (for a queued exporter: once the data is in the queue). When
// the bytes in flight would pass the limit, the receiver refuses the request
// with back-pressure (HTTP 429 / gRPC RESOURCE_EXHAUSTED), so the client
// keeps the data and retries later: nothing is dropped, and the process does
// not grow past the limit.
//
// How the limit is spent. memory_limit is what the whole process may use.
// Memory queues reserve their max_bytes out of it when they are built; the
// Go runtime's soft memory limit (debug.SetMemoryLimit) is set to it, so the
// garbage collector works harder as the heap nears it; and requests in
// flight may hold at most half of what is left after the reservations. The
// other half is headroom for what is not counted: garbage not yet collected,
// goroutine stacks, connection buffers, the binary itself. The estimate of a
// request is its uncompressed protobuf size times Expansion, the ratio of
// decoded pdata to its protobuf encoding measured on OTLP data
// (TestExpansion in this package prints it and keeps the
// constant above it).
//
// The package deliberately does not measure the heap and does not drop
// data: it is an admission gate, exact about what it counts and
// conservative about what it cannot count.
package memlimit
