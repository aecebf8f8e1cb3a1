package hostmetricsreceiver

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/scrapeloop"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// transport is the value of the transport label of the receiver metrics.
const transport = "host"

// scopePrefix begins the instrumentation scope name of each scraper's
// metrics; the scraper's name ends it.
const scopePrefix = "github.com/outpost-edge/outpost/receivers/hostmetricsreceiver/"

// receiver scrapes the host at collection_interval.
type receiver struct {
	id       pipeline.ID
	cfg      *Config
	scrapers []scraper
	loop     *scrapeloop.Loop
	errors   *prometheus.CounterVec // receiver, scraper, reason
	procDir  string
	now      func() time.Time

	mu       sync.Mutex
	boot     pcommon.Timestamp // 0 until read
	lastErrs []error           // the last cycle's failures, for tests
}

func newReceiver(set pipeline.Settings, cfg *Config, next pipeline.Consumers) (*receiver, error) {
	if next.Metrics == nil {
		return nil, fmt.Errorf("hostmetrics receiver %s: not wired to a metrics pipeline", set.ID)
	}
	tel := set.Telemetry
	if tel == nil {
		tel = selftelemetry.New()
	}
	root := cfg.RootPath
	if root == "/" {
		root = ""
	}
	r := &receiver{
		id:      set.ID,
		cfg:     cfg,
		errors:  tel.Scrapers.Errors,
		procDir: filepath.Join(root+"/", "proc"),
		now:     time.Now,
	}
	s := cfg.Scrapers
	if s.CPU != nil {
		r.scrapers = append(r.scrapers, cpuScraper{s.CPU})
	}
	if s.Memory != nil {
		r.scrapers = append(r.scrapers, memoryScraper{s.Memory})
	}
	if s.Paging != nil {
		r.scrapers = append(r.scrapers, pagingScraper{s.Paging})
	}
	if s.Load != nil {
		r.scrapers = append(r.scrapers, loadScraper{s.Load})
	}
	if s.Disk != nil {
		r.scrapers = append(r.scrapers, newDiskScraper(s.Disk))
	}
	if s.Filesystem != nil {
		r.scrapers = append(r.scrapers, newFilesystemScraper(s.Filesystem, root))
	}
	if s.Network != nil {
		r.scrapers = append(r.scrapers, newNetworkScraper(s.Network))
	}
	if s.Processes != nil {
		r.scrapers = append(r.scrapers, processesScraper{s.Processes})
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

// Start begins scraping in the background.
func (r *receiver) Start(context.Context, pipeline.Host) error { return r.loop.Start() }

// Shutdown stops scraping; see scrapeloop.Loop.Shutdown.
func (r *receiver) Shutdown(ctx context.Context) error { return r.loop.Shutdown(ctx) }

// scrape runs every scraper once into one batch: one resource (node
// identity is added by the pipeline), one scope per scraper.
func (r *receiver) scrape(ctx context.Context) (pmetric.Metrics, error) {
	ctx = hostEnv(ctx, r.cfg.RootPath)
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	now := pcommon.NewTimestampFromTime(r.now())
	start := r.bootTimestamp()
	var errs []error
	for _, s := range r.scrapers {
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scopePrefix + s.name())
		b := newBatch(sm, s.metrics(), now, start)
		s.scrape(ctx, b, func(reason string, err error) {
			r.errors.WithLabelValues(r.id.String(), s.name(), reason).Inc()
			errs = append(errs, fmt.Errorf("%s: %w", s.name(), err))
		})
		if sm.Metrics().Len() == 0 {
			rm.ScopeMetrics().RemoveIf(func(x pmetric.ScopeMetrics) bool { return x.Metrics().Len() == 0 })
		}
	}
	r.mu.Lock()
	r.lastErrs = errs
	r.mu.Unlock()
	return md, errors.Join(errs...)
}

// bootTimestamp is the start time of every sum: the counters of /proc
// start at boot. It is read once; when it cannot be read, sums carry no
// start time (0) and the next cycle tries again.
func (r *receiver) bootTimestamp() pcommon.Timestamp {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.boot == 0 {
		if t, err := bootTime(r.procDir); err == nil {
			r.boot = pcommon.NewTimestampFromTime(time.Unix(t, 0))
		}
	}
	return r.boot
}
