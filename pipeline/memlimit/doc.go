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
// Admission: the one way a receiver takes requests in. Every receiver,
// and every receiver added later, charges a request through a Charge
// (Limiter.Admit or AdmitWait), before it reads the request and as it
// reads it, never after:
//
//   - before the first byte: what is known (a body sent as is with a
//     declared length, charged whole; for gRPC, which reads a message
//     whole before the handler sees it, the worst case of receiving one),
//     so that a request that cannot fit is refused unread;
//   - while reading: Charge.Reader wraps the decompressed stream and
//     charges Expansion bytes per byte before it reads it, in steps, so
//     that a decompression bomb is refused once its charge would pass the
//     capacity, not once it is whole in memory;
//   - once read: Charge.Resize to what decoding takes (Expansion × size);
//   - once the pipeline has answered: Charge.Release.
//
// A charge is refused with ErrLimit when what else is in flight leaves no
// room (the client should retry: HTTP 429 or, for Prometheus remote write
// and Loki push, 503 with Retry-After; gRPC RESOURCE_EXHAUSTED with
// RetryInfo), and with ErrTooLarge when it could not fit even alone (as a
// request over the receiver's size cap: HTTP 413, gRPC RESOURCE_EXHAUSTED
// without RetryInfo). MaxRequestSize gives the largest request the limit
// can hold, to cap reads with. When the limit is taken, one reader at a
// time waits for room (the room it waits for is kept from others, so a
// large body makes progress among many small ones), and charges taken
// before reading may wait too; everything else is refused at once, so
// nothing waits holding bytes that another waiter needs. Unlike Acquire, a
// Charge never lets a request past the capacity, so the bytes in flight
// never pass it. receivers/otlpreceiver is the model (decodeHTTP,
// admitRecv).
//
// The package deliberately does not measure the heap and does not drop
// data: it is an admission gate, exact about what it counts and
// conservative about what it cannot count.
package memlimit
