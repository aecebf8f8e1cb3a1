package prometheusreceiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// Reasons a scrape is skipped (outpost_receiver_scrapes_skipped_total) and
// its points refused (outpost_receiver_refused_items_total).
const (
	reasonThrottled   = "throttled"    // a queue is full under block, or the pipeline asked to slow down
	reasonUnavailable = "unavailable"  // another retryable refusal
	reasonPermanent   = "permanent"    // the pipeline refused the data for good
	reasonMemoryLimit = "memory_limit" // memory_limit had no room for the scrape
	reasonInvalid     = "invalid_histogram"
)

// transport is the receiver's transport label.
const transport = "http"

// logEvery is the shortest interval between two log lines about skipped
// scrapes.
const logEvery = 10 * time.Second

// discoveryReloadInterval is how often target changes found by discovery
// are applied to the scrape pools (Prometheus's default).
const discoveryReloadInterval = 5 * time.Second

type receiver struct {
	id     pipeline.ID
	cfg    *Config
	next   consumer.Metrics
	memory *memlimit.Limiter // nil: unlimited
	logger *slog.Logger

	accepted   *prometheus.CounterVec // curried: receiver, signal, transport
	refused    *prometheus.CounterVec // reason
	skipped    *prometheus.CounterVec // reason
	pending    pendingStale
	sizes      sizeHints
	lastLog    time.Time
	logMu      sync.Mutex
	suppressed int

	mu        sync.Mutex
	started   bool
	stopped   bool
	cancel    context.CancelFunc
	discovery *discovery.Manager
	scraper   *scrape.Manager
	done      chan struct{}
}

func newReceiver(set pipeline.Settings, cfg *Config, next consumer.Metrics) *receiver {
	logger := set.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tel := set.Telemetry
	if tel == nil {
		// Not in a running graph (a test or a tool): count into a registry
		// of our own that nobody serves.
		tel = selftelemetry.New()
	}
	id := set.ID.String()
	return &receiver{
		id:       set.ID,
		cfg:      cfg,
		next:     next,
		memory:   set.Memory,
		logger:   logger,
		accepted: tel.ReceiverAccepted.MustCurryWith(prometheus.Labels{"receiver": id, "signal": "metrics", "transport": transport}),
		refused:  tel.ReceiverRefused.MustCurryWith(prometheus.Labels{"receiver": id, "signal": "metrics", "transport": transport}),
		skipped:  tel.ReceiverScrapesSkipped.MustCurryWith(prometheus.Labels{"receiver": id}),
	}
}

// Start starts discovery and the scrape manager in the background.
func (r *receiver) Start(_ context.Context, _ pipeline.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return fmt.Errorf("prometheus receiver %s: already started", r.id)
	}
	r.started = true
	cfg := r.cfg.Config.Parsed
	// Prometheus's managers register their own metrics; they go to a
	// registry of this receiver's own (two graphs run side by side during
	// a reload, and the metrics are Prometheus's, not outpost's).
	reg := prometheus.NewRegistry()
	sdMetrics, err := discovery.CreateAndRegisterSDMetrics(reg)
	if err != nil {
		return fmt.Errorf("prometheus receiver %s: discovery metrics: %w", r.id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logger := r.logger
	dm := discovery.NewManager(ctx, logger.With("component", "discovery"), reg, sdMetrics, discovery.Name("scrape"))
	if dm == nil {
		cancel()
		return fmt.Errorf("prometheus receiver %s: discovery manager could not be created", r.id)
	}
	sdConfigs := make(map[string]discovery.Configs, len(cfg.ScrapeConfigs))
	for _, sc := range cfg.ScrapeConfigs {
		sdConfigs[sc.JobName] = sc.ServiceDiscoveryConfigs
	}
	if err := dm.ApplyConfig(sdConfigs); err != nil {
		cancel()
		return fmt.Errorf("prometheus receiver %s: discovery: %w", r.id, err)
	}
	sm, err := scrape.NewManager(&scrape.Options{
		// Metadata with every sample (family name, type, unit, help) and
		// the target and metadata store in the appender's context: the
		// translation needs the family of each series.
		AppendMetadata:           true,
		PassMetadataInContext:    true,
		ParseST:                  true,
		DiscoveryReloadInterval:  model.Duration(discoveryReloadInterval),
		DiscoveryReloadOnStartup: true,
	}, logger.With("component", "scrape"), nil, nil, appendable{r}, reg)
	if err != nil {
		cancel()
		return fmt.Errorf("prometheus receiver %s: scrape manager: %w", r.id, err)
	}
	if err := sm.ApplyConfig(cfg); err != nil {
		cancel()
		return fmt.Errorf("prometheus receiver %s: scrape config: %w", r.id, err)
	}
	r.cancel, r.discovery, r.scraper = cancel, dm, sm
	r.done = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := dm.Run(); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("service discovery stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := sm.Run(dm.SyncCh()); err != nil {
			logger.Error("scrape manager stopped", "err", err)
		}
	}()
	go func() {
		wg.Wait()
		close(r.done)
	}()
	return nil
}

// Shutdown stops scraping (the scrape loops finish the scrape in flight
// and hand it on) and discovery. It is idempotent and honours ctx.
func (r *receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.started || r.stopped {
		r.stopped = true
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	sm, cancel, done := r.scraper, r.cancel, r.done
	r.mu.Unlock()
	stopped := make(chan struct{})
	go func() {
		sm.Stop()
		cancel()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		cancel()
		return fmt.Errorf("prometheus receiver %s: shutdown: %w", r.id, ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("prometheus receiver %s: shutdown: %w", r.id, ctx.Err())
	}
}

// commit hands one scrape to the pipeline (see appender.Commit).
func (r *receiver) commit(a *appender) {
	now := time.Now()
	fresh := make(map[storage.SeriesRef]bool, len(a.samples))
	for i := range a.samples {
		if !a.samples[i].stale() {
			fresh[a.samples[i].ref] = true
		}
	}
	samples := a.samples
	if a.target != nil {
		r.sizes.put(a.target, len(a.samples))
		kept := r.pending.take(a.target, now, fresh)
		for i := range kept {
			a.bytes += kept[i].size()
		}
		samples = append(samples, kept...)
	}
	if len(samples) == 0 {
		return
	}
	charge, err := r.memory.Admit(a.bytes)
	if err != nil {
		r.skip(a, samples, len(samples), reasonMemoryLimit, err, now)
		return
	}
	defer charge.Release()
	tr := translate(samples, a.target, a.meta)
	if tr.invalid > 0 {
		r.refused.WithLabelValues(reasonInvalid).Add(float64(tr.invalid))
	}
	if tr.points == 0 {
		return
	}
	ctx, cancel := r.consumeContext(a)
	defer cancel()
	if err := r.next.ConsumeMetrics(ctx, tr.md); err != nil {
		r.skip(a, samples, tr.points, reason(err), err, now)
		return
	}
	r.accepted.WithLabelValues().Add(float64(tr.points))
}

// consumeContext bounds the hand-over of one scrape by the target's
// scrape interval: a pipeline that blocks longer has made the scrape
// late, and the next one is due.
func (r *receiver) consumeContext(a *appender) (context.Context, context.CancelFunc) {
	d := time.Duration(0)
	if a.target != nil {
		if iv, err := model.ParseDuration(a.target.GetValue(model.ScrapeIntervalLabel)); err == nil {
			d = time.Duration(iv)
		}
	}
	if d <= 0 {
		d = time.Duration(r.cfg.Config.Parsed.GlobalConfig.ScrapeInterval)
	}
	if d <= 0 {
		d = time.Minute
	}
	return context.WithTimeout(context.WithoutCancel(a.ctx), d)
}

// skip counts a refused scrape, keeps its staleness markers for the
// target's next scrape and logs, at most once per logEvery.
func (r *receiver) skip(a *appender, samples []sample, points int, why string, err error, now time.Time) {
	r.skipped.WithLabelValues(why).Inc()
	r.refused.WithLabelValues(why).Add(float64(points))
	if a.target != nil {
		r.pending.put(a.target, samples, now)
	}
	r.logMu.Lock()
	defer r.logMu.Unlock()
	if now.Sub(r.lastLog) < logEvery {
		r.suppressed++
		return
	}
	target := ""
	if a.target != nil {
		target = a.target.String()
	}
	r.logger.Warn("scrape skipped: the pipeline refused its data; its staleness markers go with the next scrape",
		"target", target, "reason", why, "points", points,
		"skipped_since_last_log", r.suppressed, "err", err)
	r.lastLog, r.suppressed = now, 0
}

// reason classifies a consumer error.
func reason(err error) string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		out := reasonPermanent
		for _, e := range j.Unwrap() {
			switch reason(e) {
			case reasonThrottled:
				return reasonThrottled
			case reasonUnavailable:
				out = reasonUnavailable
			}
		}
		return out
	}
	if _, ok := pipeline.IsThrottle(err); ok {
		return reasonThrottled
	}
	if errors.Is(err, memlimit.ErrLimit) {
		return reasonMemoryLimit
	}
	if consumererror.IsPermanent(err) {
		return reasonPermanent
	}
	return reasonUnavailable
}

// maxSizeHints bounds sizeHints; past it the hints are forgotten (targets
// that went away leave theirs behind).
const maxSizeHints = 4096

// sizeHints remembers the number of samples of each target's last scrape,
// to size the next scrape's buffer.
type sizeHints struct {
	mu sync.Mutex
	m  map[*scrape.Target]int
}

func (h *sizeHints) put(t *scrape.Target, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= maxSizeHints {
		h.m = map[*scrape.Target]int{}
	}
	h.m[t] = n
}

func (h *sizeHints) get(t *scrape.Target) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[t]
}
