// Package deps pins modules in go.mod while the packages that use them are
// being written. It is removed once they exist.
package deps

import (
	_ "github.com/klauspost/compress/zstd"
	_ "go.opentelemetry.io/collector/consumer/consumererror"
	_ "go.opentelemetry.io/collector/pdata/plog/plogotlp"
	_ "go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	_ "go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	_ "go.uber.org/goleak"
	_ "go.yaml.in/yaml/v3"
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	_ "google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip"
	_ "google.golang.org/protobuf/types/known/durationpb"
)
