package otlpreceiver

import "github.com/outpost-edge/outpost/pipeline/memlimit"

// logMemoryCaps logs (info), once at start, when memory_limit lets one request
// hold less than the configured size caps: larger requests are then
// refused as too large (HTTP 413, gRPC RESOURCE_EXHAUSTED without
// RetryInfo) although they are within max_request_body_size or
// max_recv_msg_size. (gRPC also receives fewer messages at once than the
// capacity would suggest: each is charged three times max_recv_msg_size,
// at most the whole capacity, while it is received.)
func (r *receiver) logMemoryCaps() {
	capacity := r.memory.Capacity()
	if capacity == 0 {
		return
	}
	if h := r.cfg.Protocols.HTTP; h != nil {
		if most := r.memory.MaxRequestSize(int64(h.MaxRequestBodySize)); most < int64(h.MaxRequestBodySize) {
			r.logger.Info("memory_limit lets one OTLP/HTTP request hold less than max_request_body_size; larger bodies are refused with 413",
				"max_request_body_size", int64(h.MaxRequestBodySize), "largest_body_bytes", most,
				"in_flight_capacity_bytes", capacity, "bytes_per_body_byte", memlimit.Expansion)
		}
	}
	if g := r.cfg.Protocols.GRPC; g != nil {
		if most := r.memory.MaxRequestSize(int64(g.MaxRecvMsgSize)); most < int64(g.MaxRecvMsgSize) {
			r.logger.Info("memory_limit lets one OTLP/gRPC request hold less than max_recv_msg_size; larger messages are refused with RESOURCE_EXHAUSTED",
				"max_recv_msg_size", int64(g.MaxRecvMsgSize), "largest_message_bytes", most,
				"in_flight_capacity_bytes", capacity, "bytes_per_message_byte", memlimit.Expansion)
		}
	}
}
