// Package otlpsend is the OTLP sending machinery the OTLP-speaking
// exporters share (otlpexporter's `otlp` and `otlphttp`, and
// jaegerexporter): the Exporter that splits batches by priority lane,
// encodes each part once and hands it to the durable queue
// (pipeline/sender), and the two Transports that make one attempt each,
// GRPC and HTTP, with the OTLP specification's classification of their
// outcomes. It lives here, not in an exporter, because an exporter may not
// import another.
//
// # Send path
//
// Each ConsumeTraces/ConsumeMetrics/ConsumeLogs call splits the batch by
// priority lane (pipeline/lanes, from the `priority` rules), encodes each
// part once into a body (an OTLP ExportRequest in protobuf, or JSON) and
// puts it in a sender.Output: the exporter's durable queue (pipeline/queue,
// on disk by default). The call returns once the body is stored. The
// queue's senders merge consecutive protobuf bodies of one lane and signal
// into one request (ExportRequests concatenate: their one field is
// repeated; JSON bodies go one by one), compress it once with pooled
// encoders (`compression`: zstd at its fastest level for gRPC, as gRPC's
// own compressor, the default level for HTTP; gzip), wait on the shared
// uplink budget for its bytes, and send it through the Transport with
// retries. No attempt re-encodes or re-compresses a request.
//
// For OTLP/gRPC the request is handed to gRPC as precompressed
// (internal/grpccompress.Precompressed); for OTLP/HTTP it goes out as is.
// Both label the body from the Request, so bodies queued under another
// configuration (or wire-ready by queue format version 1) stay valid.
//
// # Client options
//
// TLS configurations built by clientconfig.TLS.LoadReloading and
// clientconfig.Authorizer credentials are read from their files at each
// handshake or request (a stat, and a read only when a file changed): a
// rotated certificate applies to the next connection, a rotated token to
// the next request. The HTTP transport takes its proxy from the
// environment at Start; the gRPC transport leaves it to grpc-go
// (HTTPS_PROXY).
//
// It does not decide configuration: the exporters own their Config types
// and validate them with the helpers here.
package otlpsend
