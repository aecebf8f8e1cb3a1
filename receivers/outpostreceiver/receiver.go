package outpostreceiver

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/scrapeloop"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// Values of labels and attributes the receiver writes.
const (
	transport    = "self"    // the transport label of its receiver metrics
	scraperName  = "outpost" // the scraper label of its scraper errors
	reasonGather = "gather"
	// ServiceName is the service.name of the resource it emits.
	ServiceName = "outpost"
	// ScopeName is its instrumentation scope.
	ScopeName = "github.com/outpost-edge/outpost/receivers/outpostreceiver"
)

// receiver reads outpost's own registry at collection_interval.
type receiver struct {
	id       pipeline.ID
	gatherer prometheus.Gatherer
	conv     *converter
	errors   prometheus.Counter
	loop     *scrapeloop.Loop
	now      func() time.Time
	started  pcommon.Timestamp // fallback start time when the process start is unknown
}

func newReceiver(set pipeline.Settings, cfg *Config, next pipeline.Consumers) (*receiver, error) {
	if next.Metrics == nil {
		return nil, fmt.Errorf("outpost receiver %s: not wired to a metrics pipeline", set.ID)
	}
	tel := set.Telemetry
	if tel == nil {
		tel = selftelemetry.New()
	}
	r := &receiver{
		id:       set.ID,
		gatherer: tel.Registry,
		conv:     newConverter(cfg),
		errors:   tel.Scrapers.Errors.WithLabelValues(set.ID.String(), scraperName, reasonGather),
		now:      time.Now,
		started:  pcommon.NewTimestampFromTime(time.Now()),
	}
	loop, err := scrapeloop.New(scrapeloop.Options{
		ID:           set.ID,
		Kind:         Type,
		Logger:       set.Logger,
		Telemetry:    tel,
		Memory:       set.Memory,
		Transport:    transport,
		Interval:     cfg.CollectionInterval,
		InitialDelay: cfg.InitialDelay,
		Scrape:       r.scrape,
		Next:         next.Metrics,
	})
	if err != nil {
		return nil, err
	}
	r.loop = loop
	return r, nil
}

// Start begins reading in the background.
func (r *receiver) Start(context.Context, pipeline.Host) error { return r.loop.Start() }

// Shutdown stops reading; see scrapeloop.Loop.Shutdown.
func (r *receiver) Shutdown(ctx context.Context) error { return r.loop.Shutdown(ctx) }

// scrape gathers the registry into one resource: service.name "outpost",
// service.version from outpost_build_info; the pipeline adds the node
// identity (node.name, node.site, node.region, node labels) as it does for
// every receiver.
func (r *receiver) scrape(context.Context) (pmetric.Metrics, error) {
	fams, gatherErr := r.gatherer.Gather()
	if gatherErr != nil {
		// Gather returns what it could collect with the error.
		r.errors.Inc()
		gatherErr = fmt.Errorf("gather own metrics: %w", gatherErr)
	}
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	ra.PutStr("service.name", ServiceName)
	for _, f := range fams {
		if f.GetName() == "outpost_build_info" && len(f.GetMetric()) > 0 {
			for _, l := range f.GetMetric()[0].GetLabel() {
				if l.GetName() == "version" {
					ra.PutStr("service.version", l.GetValue())
				}
			}
		}
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(ScopeName)
	start := processStart(fams)
	if start == 0 {
		start = r.started
	}
	r.conv.append(sm.Metrics(), fams, pcommon.NewTimestampFromTime(r.now()), start)
	return md, gatherErr
}
