package pipeline

import (
	"context"
	"strings"
	"testing"
)

// A graph that cannot be built, or fails to start, shuts down every
// component it created, started or not, so that nothing they took from the
// process-wide settings (an exporter's uplink client) outlives a failed
// reload.
func TestFailedGraphShutsDownWhatItCreated(t *testing.T) {
	h := newHarness()
	cfg := cfgOf(map[string][3][]string{"traces": {{"recv"}, {"mut"}, {"rec"}}})
	delete(cfg.Receivers, MustID("recv"))
	if _, err := Build(context.Background(), cfg, BuildSettings{Factories: h.factories()}); err == nil {
		t.Fatal("built a graph with an undefined receiver")
	}
	if got, want := strings.Join(h.log.events, ","), "stop processor mut,stop exporter rec"; got != want {
		t.Fatalf("after a failed build:\n got %s\nwant %s", got, want)
	}

	h = newHarness()
	h.failStart = "receiver recv/a"
	cfg = cfgOf(map[string][3][]string{"traces": {{"recv/a", "recv/b"}, nil, {"rec"}}})
	g, err := Build(context.Background(), cfg, BuildSettings{Factories: h.factories()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err == nil {
		t.Fatal("start did not fail")
	}
	want := "start exporter rec,start receiver recv/a,stop receiver recv/b,stop receiver recv/a,stop exporter rec"
	if got := strings.Join(h.log.events, ","); got != want {
		t.Fatalf("after a failed start:\n got %s\nwant %s", got, want)
	}
}
