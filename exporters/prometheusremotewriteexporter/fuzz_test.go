package prometheusremotewriteexporter

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// FuzzTranslate: any OTLP metrics protobuf that unmarshals translates, with
// every strategy, without panicking, into a request that marshals, with
// every data point either translated or counted as dropped.
func FuzzTranslate(f *testing.F) {
	m := pmetric.ProtoMarshaler{}
	for _, md := range []pmetric.Metrics{sampleMetrics(3), benchMetrics(2, 5)} {
		b, err := m.MarshalMetrics(md)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	strategies := []string{"UnderscoreEscapingWithSuffixes", "UnderscoreEscapingWithoutSuffixes", "NoUTF8EscapingWithSuffixes", "NoTranslation"}
	f.Fuzz(func(t *testing.T, data []byte, opts uint8) {
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(data)
		if err != nil {
			return
		}
		tr := defaultTranslator(func(c *Config) {
			c.TranslationStrategy = strategies[opts%4]
			c.SendNativeHistograms = opts&4 == 0
			c.ResourceToTelemetryConversion = opts&8 != 0
			c.ExternalLabels = map[string]string{"site": "x"}
		})
		b := tr.translate(md)
		if _, err := b.req.Marshal(); err != nil {
			t.Fatal(err)
		}
		if got := b.Points + b.DroppedTotal(); got != md.DataPointCount() {
			t.Fatalf("%d translated + %d dropped, want %d data points", b.Points, b.DroppedTotal(), md.DataPointCount())
		}
	})
}
