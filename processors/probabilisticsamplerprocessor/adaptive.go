package probabilisticsamplerprocessor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outpost-edge/outpost/internal/units"
	"github.com/outpost-edge/outpost/pipeline"
)

// Defaults of the adaptive block: a key left out (or 0) takes these.
const (
	DefaultAdaptiveMinPercentage  = 1
	DefaultAdaptiveDecreaseFactor = 0.5
	DefaultAdaptiveIncreaseStep   = 5
	DefaultAdaptiveInterval       = 10 * time.Second
	DefaultAdaptiveHysteresis     = 0.5
)

// AdaptiveConfig is the `adaptive` block: which backlog the probability
// follows, its targets and the control law's parameters. At least one
// target must be set; a target left out (0) is not watched.
type AdaptiveConfig struct {
	// Exporter is the ID of the exporter (e.g. otlp/central) whose queue
	// is watched. Required: its budget wait is the uplink budget's,
	// shared by all exporters. With target_oldest_age or
	// target_queue_bytes, its queue must be enabled (Start fails
	// otherwise).
	Exporter string `yaml:"exporter"`
	// TargetOldestAge is the age of the oldest record in the exporter's
	// queue (all lanes) above which the backlog counts as too large.
	TargetOldestAge time.Duration `yaml:"target_oldest_age"`
	// TargetQueueBytes is the exporter's queue size, in encoded bytes
	// (all lanes), above which the backlog counts as too large.
	TargetQueueBytes units.ByteSize `yaml:"target_queue_bytes"`
	// TargetBudgetWait is the uplink budget's wait (uplink.Budget.Delay:
	// how long a request joining now would wait for the bytes already
	// waiting) above which the uplink counts as saturated.
	TargetBudgetWait time.Duration `yaml:"target_budget_wait"`
	// MinPercentage is the floor of the probability, in percent: (0,
	// sampling_percentage]. 0 or absent: 1 (or sampling_percentage, when
	// that is lower).
	MinPercentage float32 `yaml:"min_percentage"`
	// DecreaseFactor multiplies the probability at each step down: (0,
	// 1). 0 or absent: 0.5.
	DecreaseFactor float64 `yaml:"decrease_factor"`
	// IncreaseStep is added to the percentage at each step up, in
	// percentage points: > 0. 0 or absent: 5.
	IncreaseStep float32 `yaml:"increase_step"`
	// Interval is the time between two looks at the backlog, and so
	// between two steps: > 0. 0 or absent: 10s.
	Interval time.Duration `yaml:"interval"`
	// Hysteresis is the share below each target that the backlog must
	// fall under before the probability climbs: it climbs only when every
	// watched signal is at most (1 − hysteresis) × its target. [0, 1);
	// 0 or absent: 0.5.
	Hysteresis float64 `yaml:"hysteresis"`
}

// effective returns the block with its defaults filled in.
func (a AdaptiveConfig) effective() AdaptiveConfig {
	if a.MinPercentage == 0 {
		a.MinPercentage = DefaultAdaptiveMinPercentage
	}
	if a.DecreaseFactor == 0 {
		a.DecreaseFactor = DefaultAdaptiveDecreaseFactor
	}
	if a.IncreaseStep == 0 {
		a.IncreaseStep = DefaultAdaptiveIncreaseStep
	}
	if a.Interval == 0 {
		a.Interval = DefaultAdaptiveInterval
	}
	if a.Hysteresis == 0 {
		a.Hysteresis = DefaultAdaptiveHysteresis
	}
	return a
}

// watchesQueue reports whether a queue target is set.
func (a AdaptiveConfig) watchesQueue() bool {
	return a.TargetOldestAge > 0 || a.TargetQueueBytes > 0
}

func (a *AdaptiveConfig) validate(samplingPct float32) error {
	var errs []error
	if a.Exporter == "" {
		errs = append(errs, errors.New("exporter: required (the exporter whose queue is watched)"))
	} else if _, err := pipeline.ParseID(a.Exporter); err != nil {
		errs = append(errs, fmt.Errorf("exporter: %w", err))
	}
	if a.TargetOldestAge < 0 || a.TargetQueueBytes < 0 || a.TargetBudgetWait < 0 {
		errs = append(errs, errors.New("targets must be ≥ 0"))
	}
	if a.TargetOldestAge <= 0 && a.TargetQueueBytes <= 0 && a.TargetBudgetWait <= 0 {
		errs = append(errs, errors.New("set at least one of target_oldest_age, target_queue_bytes, target_budget_wait"))
	}
	e := a.effective()
	maxPct := min(samplingPct, 100)
	switch {
	case samplingPct <= 0:
		errs = append(errs, errors.New("needs a sampling_percentage above 0 (the ceiling it climbs back to)"))
	case math.IsNaN(float64(e.MinPercentage)) || e.MinPercentage < 0 || (a.MinPercentage != 0 && e.MinPercentage > maxPct):
		errs = append(errs, fmt.Errorf("min_percentage: must be in (0, sampling_percentage = %v] (got %v)", maxPct, a.MinPercentage))
	case float64(e.MinPercentage)/100 < 1e-6:
		errs = append(errs, fmt.Errorf("min_percentage: must be at least 0.0001 (got %v)", a.MinPercentage))
	}
	if !(e.DecreaseFactor > 0 && e.DecreaseFactor < 1) {
		errs = append(errs, fmt.Errorf("decrease_factor: must be in (0, 1) (got %v)", a.DecreaseFactor))
	}
	if !(e.IncreaseStep > 0) || math.IsInf(float64(e.IncreaseStep), 0) {
		errs = append(errs, fmt.Errorf("increase_step: must be > 0 (got %v)", a.IncreaseStep))
	}
	if e.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval: must be > 0 (got %v)", a.Interval))
	}
	if !(e.Hysteresis >= 0 && e.Hysteresis < 1) {
		errs = append(errs, fmt.Errorf("hysteresis: must be in [0, 1) (got %v)", a.Hysteresis))
	}
	return errors.Join(errs...)
}

// observation is what the controller sees at one tick.
type observation struct {
	hasQueue bool // the exporter's queue was found
	age      time.Duration
	bytes    int64
	items    int
	wait     time.Duration
}

// controller is the control law, without clock or I/O: step takes one
// observation and returns the percentage in force until the next. The
// trend is the queue's pending items between two ticks (its bytes shrink
// only by whole segments, too coarse to tell a trend).
//
//   - Over: some watched signal is above its target, and the queue did
//     not shrink since the previous tick (items now ≥ items then, or no
//     queue found): multiplicative decrease, pct ← max(min, pct ×
//     decrease_factor).
//   - Under: every watched signal is at most (1 − hysteresis) × its
//     target, and the queue is not falling behind (its items did not
//     grow, or its oldest record is younger than one interval): additive
//     increase, pct ← min(max, pct + increase_step).
//   - Otherwise (in the band, over but already shrinking, or under but
//     growing): hold.
type controller struct {
	cfg       AdaptiveConfig // effective
	maxPct    float64
	minPct    float64
	pct       float64
	prevItems int
	havePrev  bool
}

func newController(a AdaptiveConfig, samplingPct float32) *controller {
	e := a.effective()
	maxPct := float64(min(samplingPct, 100))
	return &controller{cfg: e, maxPct: maxPct, minPct: min(float64(e.MinPercentage), maxPct), pct: maxPct}
}

// set places the percentage (a persisted one) within [min, max].
func (c *controller) set(pct float64) {
	if !math.IsNaN(pct) {
		c.pct = min(max(pct, c.minPct), c.maxPct)
	}
}

func (c *controller) step(o observation) float64 {
	a := &c.cfg
	over, under := false, true
	check := func(v, target float64) {
		if target <= 0 {
			return
		}
		if v > target {
			over = true
		}
		if v > (1-a.Hysteresis)*target {
			under = false
		}
	}
	if o.hasQueue {
		check(o.age.Seconds(), a.TargetOldestAge.Seconds())
		check(float64(o.bytes), float64(a.TargetQueueBytes))
	}
	check(o.wait.Seconds(), a.TargetBudgetWait.Seconds())
	shrinking := o.hasQueue && c.havePrev && o.items < c.prevItems
	behind := o.hasQueue && c.havePrev && o.items > c.prevItems && o.age > a.Interval
	if o.hasQueue {
		c.prevItems, c.havePrev = o.items, true
	}
	switch {
	case over && !shrinking:
		c.pct = max(c.minPct, c.pct*a.DecreaseFactor)
	case under && !over && !behind:
		c.pct = min(c.maxPct, c.pct+float64(a.IncreaseStep))
	}
	return c.pct
}

// adaptiveLoop runs the controller once per interval against the
// exporter's queue and the uplink budget, and installs each new
// percentage in the traces processor.
type adaptiveLoop struct {
	p       *tracesProcessor
	ctl     *controller
	set     pipeline.Settings
	stateFn string // file the percentage persists in; "" for none
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// stateFile is the name of the file, in the processor's storage
// directory, that keeps the adapted percentage across reloads and
// restarts.
const stateFile = "adaptive-percentage"

func newAdaptiveLoop(p *tracesProcessor, set pipeline.Settings, a AdaptiveConfig, samplingPct float32) *adaptiveLoop {
	l := &adaptiveLoop{p: p, ctl: newController(a, samplingPct), set: set}
	if set.StorageDir != "" {
		l.stateFn = filepath.Join(set.StorageDir, stateFile)
	}
	return l
}

func (l *adaptiveLoop) observe() observation {
	var o observation
	if l.set.Queues != nil {
		if b, ok := l.set.Queues.Backlog(l.ctl.cfg.Exporter); ok {
			o.hasQueue, o.bytes, o.items, o.age = true, b.Bytes, b.Items, b.Age(time.Now())
		}
	}
	if l.set.Uplink != nil {
		o.wait = l.set.Uplink.Delay()
	}
	return o
}

func (l *adaptiveLoop) start() error {
	if l.ctl.cfg.watchesQueue() {
		if l.set.Queues == nil {
			return fmt.Errorf("adaptive: no queue registry to watch exporter %s in", l.ctl.cfg.Exporter)
		}
		if _, ok := l.set.Queues.Backlog(l.ctl.cfg.Exporter); !ok {
			return fmt.Errorf("adaptive: exporter %s has no queue open (is it in this configuration, with its queue enabled?)", l.ctl.cfg.Exporter)
		}
	}
	if l.stateFn != "" {
		if raw, err := os.ReadFile(l.stateFn); err == nil {
			if v, err := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64); err == nil {
				l.ctl.set(v)
			}
		}
	}
	l.p.setPercentage(l.ctl.pct)
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Go(func() { l.run(ctx) })
	return nil
}

func (l *adaptiveLoop) run(ctx context.Context) {
	t := time.NewTicker(l.ctl.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		before := l.ctl.pct
		pct := l.ctl.step(l.observe())
		if pct != before {
			l.p.setPercentage(pct)
			l.persist(pct)
		}
	}
}

// persist writes the percentage for the next instance (after a reload or
// a restart), by rename so that a reader never sees half a file. A
// failure is logged and otherwise ignored: the next instance then starts
// at sampling_percentage.
func (l *adaptiveLoop) persist(pct float64) {
	if l.stateFn == "" {
		return
	}
	err := os.MkdirAll(filepath.Dir(l.stateFn), 0o755)
	if err == nil {
		tmp := l.stateFn + ".tmp"
		if err = os.WriteFile(tmp, []byte(strconv.FormatFloat(pct, 'g', -1, 64)+"\n"), 0o644); err == nil {
			err = os.Rename(tmp, l.stateFn)
		}
	}
	if err != nil {
		l.p.logger.Warn("probabilistic_sampler: cannot keep the adaptive percentage", "error", err)
	}
}

func (l *adaptiveLoop) shutdown() {
	l.once.Do(func() {
		if l.cancel != nil {
			l.cancel()
		}
		l.wg.Wait()
	})
}
