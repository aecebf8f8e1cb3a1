package lokireceiver

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// FuzzDecodeProto feeds snappy-compressed bytes to the protobuf decoder
// through the receiver's whole decode path: it must never panic, must
// answer data or a 400/413, and must give back every byte it charged.
func FuzzDecodeProto(f *testing.F) {
	f.Add(protoBody(f, samplePush()))
	f.Add(snappy.Encode(nil, []byte{0x0a, 0x05, 0x0a, 0x03, '{', 'a', '}'}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	fuzzDecode(f, "application/x-protobuf", nil)
}

// FuzzDecodeJSON does the same for JSON bodies, both shapes; the raw
// input is also fed to the stream label parser.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(sampleJSON))
	f.Add([]byte(sampleLegacyJSON))
	f.Add([]byte(`{"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":"v"}]]}]}`))
	f.Add([]byte(`{"streams":[{"labels":"{a=\"\\u00e9\"}","entries":[]}]}`))
	f.Add([]byte(`{a="b", c = "d\"e" }`))
	fuzzDecode(f, "application/json", func(t *testing.T, body []byte) {
		if ls, err := parseLabels(string(body)); err == nil && len(ls) == 0 {
			t.Fatal("parseLabels accepted a stream without labels")
		}
	})
}

func fuzzDecode(f *testing.F, ct string, extra func(t *testing.T, body []byte)) {
	mem := memlimit.New(1<<20, nil)
	cfg := createDefaultConfig()
	cfg.Protocols.HTTP = &HTTPConfig{}
	cfg.Protocols.HTTP.SetDefaults()
	cfg.Protocols.HTTP.MaxRequestBodySize = 64 << 10
	r, err := newReceiver(pipeline.Settings{ID: pipeline.MustID("loki"), Memory: mem}, cfg, &sink{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if extra != nil {
			extra(t, body)
		}
		for _, length := range []int64{int64(len(body)), -1} {
			p, charge, bad := r.decode(context.Background(), ct, "", bytes.NewReader(body), length)
			charge.Release()
			if n := mem.InFlight(); n != 0 {
				t.Fatalf("%d bytes still charged", n)
			}
			switch bad.status {
			case 0:
				ld := toLogs(p, "t", true, time.Unix(0, 1))
				if ld.LogRecordCount() != p.entries() {
					t.Fatalf("%d records from %d entries", ld.LogRecordCount(), p.entries())
				}
				for _, s := range p.streams {
					if err := checkLabels(s.labels); err != nil {
						t.Fatalf("accepted a stream with bad labels: %v", err)
					}
				}
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			default:
				t.Fatalf("status %d (%s)", bad.status, bad.msg)
			}
		}
	})
}
