package tailsamplingprocessor

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzTraceStateValue: the hand-written tracestate reader never panics and
// returns a value that is a member's value (no list separator in it).
func FuzzTraceStateValue(f *testing.F) {
	for _, s := range []string{"a=1,b=2", " ot=th:8;rv:01 ,x=y", ",,=,", "k=v=w", ""} {
		f.Add(s, "ot")
	}
	f.Fuzz(func(t *testing.T, raw, key string) {
		v, ok := traceStateValue(raw, key)
		if !ok {
			return
		}
		if strings.Contains(v, ",") || !strings.Contains(raw, key+"="+v) {
			t.Fatalf("traceStateValue(%q, %q) = %q", raw, key, v)
		}
	})
}

// FuzzConsume feeds requests built from the input (trace IDs, status,
// duration) through a processor with tight bounds; the counters always add
// up and sampled traces leave whole.
func FuzzConsume(f *testing.F) {
	f.Add([]byte{1, 2, 3, 1, 2, 3, 200, 17})
	f.Add([]byte{0, 0, 0, 0, 255, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := &sink{}
		cfg := configWith(errorsPolicy(), policy("slow", Latency, func(p *PolicyConfig) { p.Latency = &LatencyConfig{ThresholdMs: 100} }))
		cfg.NumTraces = 8
		cfg.MaxBytes = 8 << 10
		p, tel := newTest(t, cfg, next, nil)
		sent := map[uint64]int{}
		for len(data) >= 2 {
			var specs []spanSpec
			n := int(data[0]%4) + 1
			for i := 0; i < n && len(data) >= 2; i++ {
				id := uint64(data[0] % 16)
				sp := spanSpec{trace: id, name: "s", dur: 0}
				if data[1]&1 == 1 {
					sp.status = ptrace.StatusCodeError
				}
				if data[1]&2 == 2 {
					sp.dur = 1 << 30
				}
				specs = append(specs, sp)
				sent[id]++
				data = data[2:]
			}
			if err := p.ConsumeTraces(context.Background(), request(nil, specs...)); err != nil {
				t.Fatal(err)
			}
			checkBalance(t, tel)
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		c := checkBalance(t, tel)
		if c.held != 0 || int(c.sampled) != next.count() {
			t.Fatalf("counts %+v, next got %d", c, next.count())
		}
	})
}
