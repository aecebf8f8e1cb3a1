package redactionprocessor

import (
	"bytes"
	"context"
	"testing"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/testutil/redactcorpus"
	"github.com/outpost-edge/outpost/pipeline"
)

func corpusConfig(t testing.TB) *Config {
	t.Helper()
	cfg := createDefaultConfig()
	if err := configs.Decode("corpus.yaml", []byte(redactcorpus.Config), cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestCorpusCardsAreLuhnValid(t *testing.T) {
	for _, s := range redactcorpus.Secrets {
		if s.Kind == "card" && !redactcorpus.Luhn(s.Text) {
			t.Errorf("%q fails the Luhn check", s.Text)
		}
	}
	if redactcorpus.Luhn("4111 1111 1111 1112") {
		t.Error("Luhn accepts a wrong check digit")
	}
}

// leaks returns the corpus needles found in b.
func leaks(b []byte) []string {
	var out []string
	for _, n := range redactcorpus.Needles() {
		if bytes.Contains(b, []byte(n)) {
			out = append(out, n)
		}
	}
	return out
}

// TestCorpus sends the corpus of each signal through the processor: the
// output equals the expected output exactly, no needle is left in its
// protobuf or JSON encoding, and the counts per reason are exact.
func TestCorpus(t *testing.T) {
	ctx := context.Background()
	tel := selftelemetry.New()
	set := pipeline.Settings{ID: pipeline.ID{Type: Type}, Telemetry: tel}
	cfg := corpusConfig(t)
	count := func(sig, reason string) int {
		return int(promtest.ToFloat64(tel.ProcessorRedacted.WithLabelValues("redaction", sig, reason)))
	}
	check := func(t *testing.T, sig string, proto, json []byte, diff []string, value, key int) {
		t.Helper()
		for _, d := range diff {
			t.Errorf("%s: %s", sig, d)
		}
		if l := leaks(proto); len(l) > 0 {
			t.Errorf("%s: protobuf output holds %q", sig, l)
		}
		if l := leaks(json); len(l) > 0 {
			t.Errorf("%s: JSON output holds %q", sig, l)
		}
		if got := count(sig, ReasonBlockedValue); got != value {
			t.Errorf("%s: blocked_value count %d, want %d", sig, got, value)
		}
		if got := count(sig, ReasonBlockedKey); got != key {
			t.Errorf("%s: blocked_key count %d, want %d", sig, got, key)
		}
		if got := count(sig, ReasonKeyNotAllowed); got != 0 {
			t.Errorf("%s: key_not_allowed count %d, want 0", sig, got)
		}
	}

	t.Run("traces", func(t *testing.T) {
		var got ptrace.Traces
		next, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error { got = td; return nil })
		p, err := NewFactory().CreateTraces(ctx, set, cfg, next)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.ConsumeTraces(ctx, redactcorpus.Traces(false)); err != nil {
			t.Fatal(err)
		}
		proto := enc((&ptrace.ProtoMarshaler{}).MarshalTraces(got))
		json := enc((&ptrace.JSONMarshaler{}).MarshalTraces(got))
		check(t, "traces", proto, json, redactcorpus.DiffTraces(got, redactcorpus.Traces(true)), redactcorpus.TracesBlockedValue, redactcorpus.TracesBlockedKey)
	})
	t.Run("logs", func(t *testing.T) {
		var got plog.Logs
		next, _ := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error { got = ld; return nil })
		p, err := NewFactory().CreateLogs(ctx, set, cfg, next)
		if err != nil {
			t.Fatal(err)
		}
		in := redactcorpus.Logs(false)
		// The check can fail: the input holds every secret as written.
		inJSON := enc((&plog.JSONMarshaler{}).MarshalLogs(in))
		for _, s := range redactcorpus.Secrets {
			if !bytes.Contains(inJSON, []byte(s.Text)) {
				t.Fatalf("the logs corpus lacks %q", s.Text)
			}
		}
		if err := p.ConsumeLogs(ctx, in); err != nil {
			t.Fatal(err)
		}
		proto := enc((&plog.ProtoMarshaler{}).MarshalLogs(got))
		json := enc((&plog.JSONMarshaler{}).MarshalLogs(got))
		check(t, "logs", proto, json, redactcorpus.DiffLogs(got, redactcorpus.Logs(true)), redactcorpus.LogsBlockedValue, redactcorpus.LogsBlockedKey)
	})
	t.Run("metrics", func(t *testing.T) {
		var got pmetric.Metrics
		next, _ := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error { got = md; return nil })
		p, err := NewFactory().CreateMetrics(ctx, set, cfg, next)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.ConsumeMetrics(ctx, redactcorpus.Metrics(false)); err != nil {
			t.Fatal(err)
		}
		proto := enc((&pmetric.ProtoMarshaler{}).MarshalMetrics(got))
		json := enc((&pmetric.JSONMarshaler{}).MarshalMetrics(got))
		check(t, "metrics", proto, json, redactcorpus.DiffMetrics(got, redactcorpus.Metrics(true)), redactcorpus.MetricsBlockedValue, redactcorpus.MetricsBlockedKey)
	})
}

// enc returns an encoder's output, failing the test on its error.
func enc(b []byte, err error) []byte {
	if err != nil {
		panic(err) // the marshalers fail only on a programming error
	}
	return b
}
