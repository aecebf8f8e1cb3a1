package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/memtrim"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
	"github.com/outpost-edge/outpost/pipeline/queue"
	"github.com/outpost-edge/outpost/pipeline/uplink"
)

type runOptions struct {
	configPath      string
	shutdownTimeout time.Duration
	watchInterval   time.Duration
	reload          <-chan os.Signal
	stderr          io.Writer
}

// service owns what lives across reloads: the logger, the metrics, the
// telemetry server and the shared listeners. The pipeline graph is
// replaced on each reload.
type service struct {
	opts      runOptions
	factories pipeline.Factories
	logger    *slog.Logger
	tel       *selftelemetry.Metrics
	server    *selftelemetry.Server
	listeners *pipeline.Listeners
	// queues, uplink and memory outlive reloads: an exporter's queue (disk
	// or memory) is shared by its old and new instances, and the budget and
	// the limit count across graphs. A reload changes them only once its
	// new graph has started.
	queues *queue.Registry
	uplink *uplink.Budget
	memory *memlimit.Limiter

	cfg     *configs.Config
	graph   *pipeline.Graph
	badHash string // hash of the last config file that failed to load
}

func newLogger(w io.Writer, c configs.LogsConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		opts.ReplaceAttr = durationSeconds
		return slog.New(&uniqueKeys{next: slog.NewJSONHandler(w, opts)})
	}
	return slog.New(&uniqueKeys{next: slog.NewTextHandler(w, opts)})
}

func run(ctx context.Context, opts runOptions) error {
	factories := components()
	cfg, err := configs.Load(opts.configPath, factories)
	if err != nil {
		return err
	}
	if err := checkStorageDir(cfg); err != nil {
		return err
	}
	s, err := newService(opts, factories, cfg)
	if err != nil {
		return err
	}
	defer s.stopServer()
	s.logWarnings(cfg)

	if err := s.start(ctx, cfg); err != nil {
		return err
	}
	// Start-up code runs once; let its pages go (see memtrim).
	memtrim.Trim()
	s.logTopology(cfg)
	s.logger.Info("outpost running", "version", version, "config", opts.configPath,
		"config_hash", cfg.Hash, "telemetry", cfg.Telemetry.Address, "components", len(s.graph.Components()))

	var tick <-chan time.Time
	if opts.watchInterval > 0 {
		t := time.NewTicker(opts.watchInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			s.logger.Info("shutting down: draining pipelines", "timeout", opts.shutdownTimeout)
			if s.server != nil {
				s.server.SetReady(false)
			}
			sctx, cancel := context.WithTimeout(context.Background(), opts.shutdownTimeout)
			defer cancel()
			err := s.graph.Shutdown(sctx)
			s.logBacklog(s.cfg)
			if err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			s.logger.Info("stopped")
			return nil
		case <-opts.reload:
			s.reload(ctx, "signal")
		case <-tick:
			if s.fileChanged() {
				s.reload(ctx, "file change")
			}
		}
	}
}

// newService makes the service that runs cfg: the logger, the metrics and
// their server, and what outlives reloads. It starts no pipeline.
func newService(opts runOptions, factories pipeline.Factories, cfg *configs.Config) (*service, error) {
	// The status page shows the last warnings and errors: the ring keeps
	// them as they are logged.
	ring := selftelemetry.NewLogRing(logRingSize)
	s := &service{
		opts:      opts,
		factories: factories,
		logger:    slog.New(ring.Handler(newLogger(opts.stderr, cfg.Telemetry.Logs).Handler())),
		tel:       selftelemetry.New(),
		listeners: &pipeline.Listeners{},
		queues:    &queue.Registry{},
	}
	s.uplink = uplink.New(uplinkConfig(cfg), s.tel)
	s.memory = memlimit.New(int64(cfg.MemoryLimit), s.tel.MemoryInFlight)
	s.applyMemoryLimit(cfg)
	if cfg.Telemetry.Address != "" {
		var err error
		s.server, err = selftelemetry.NewServer(cfg.Telemetry.Address, cfg.Telemetry.Pprof, s.tel, s.logger)
		if err != nil {
			return nil, err
		}
		s.server.SetCheck(s.queues.SyncError) // a disk queue whose fsync fails is not ready
		s.server.SetLogRing(ring)
	}
	return s, nil
}

func (s *service) stopServer() {
	if s.server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.server.Shutdown(ctx)
}

// prepare checks what a graph needs from the machine before it is built.
func prepare(cfg *configs.Config) error {
	if err := queue.MkdirDurable(queue.OSFS{}, cfg.Storage.Directory); err != nil {
		return fmt.Errorf("storage.directory: %w", err)
	}
	return nil
}

func (s *service) buildGraph(ctx context.Context, cfg *configs.Config) (*pipeline.Graph, error) {
	if err := prepare(cfg); err != nil {
		return nil, err
	}
	g, err := pipeline.Build(ctx, cfg.Graph, pipeline.BuildSettings{
		Factories:  s.factories,
		Logger:     s.logger,
		Telemetry:  s.tel,
		Listeners:  s.listeners,
		StorageDir: cfg.Storage.Directory,
		Queues:     s.queues,
		Uplink:     s.uplink,
		Memory:     s.memory,
	})
	if err != nil {
		return nil, err
	}
	if err := g.Start(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

func (s *service) start(ctx context.Context, cfg *configs.Config) error {
	g, err := s.buildGraph(ctx, cfg)
	if err != nil {
		return err
	}
	s.graph, s.cfg = g, cfg
	s.tel.SetBuildInfo(version, revision, cfg.Hash)
	s.showTopology(cfg)
	if s.server != nil {
		s.server.SetReady(true)
	}
	s.reportOrphans(cfg)
	return nil
}

// uplinkConfig is the budget of cfg's top-level uplink section.
func uplinkConfig(cfg *configs.Config) uplink.Config {
	return uplink.Config{BytesPerSecond: int64(cfg.Uplink.BytesPerSecond), Burst: int64(cfg.Uplink.Burst)}
}

// applyMemoryLimit sets the limiter's limit, and the Go runtime's soft
// memory limit to the same value, so the garbage collector works harder as
// the heap nears it (unless GOMEMLIMIT in the environment says otherwise).
func (s *service) applyMemoryLimit(cfg *configs.Config) {
	limit := int64(cfg.MemoryLimit)
	s.memory.SetLimit(limit)
	s.tel.MemoryLimit.Set(float64(limit))
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		if limit > 0 {
			debug.SetMemoryLimit(limit)
		} else {
			debug.SetMemoryLimit(math.MaxInt64)
		}
	}
}

// fileChanged reports whether the config file's bytes differ from the
// running configuration's (and from the last one that failed to load).
func (s *service) fileChanged() bool {
	data, err := os.ReadFile(s.opts.configPath)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:6])
	return h != s.cfg.Hash && h != s.badHash
}

// reload builds and starts a graph from the config file, then drains the
// old one. The new receivers share the old ones' sockets (see
// pipeline.Listeners), so no connection is refused during the swap, and
// the old graph's in-flight data drains through its own exporters. An
// invalid or failing new configuration leaves the old graph running.
func (s *service) reload(ctx context.Context, why string) {
	log := s.logger.With("reason", why, "config", s.opts.configPath)
	cfg, err := configs.Load(s.opts.configPath, s.factories)
	if err != nil {
		s.tel.ConfigReloads.WithLabelValues("invalid").Inc()
		if data, rerr := os.ReadFile(s.opts.configPath); rerr == nil {
			sum := sha256.Sum256(data)
			s.badHash = hex.EncodeToString(sum[:6])
		}
		var es configs.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				log.Error("reload refused: invalid configuration; the running pipelines are kept", "error", e.Error())
			}
		} else {
			log.Error("reload refused; the running pipelines are kept", "error", err)
		}
		return
	}
	if cfg.Telemetry.Address != s.cfg.Telemetry.Address || cfg.Telemetry.Logs != s.cfg.Telemetry.Logs {
		log.Warn("changes to the telemetry section take effect at the next restart")
	}
	// Nothing shared changes until the new graph has fully started: the
	// queues it shares with the running graph only stage its limits, and
	// its memory queues reserve against the new memory limit without the
	// running one changing. On failure all of it is dropped, and the
	// running graph goes on exactly as before.
	s.memory.StageLimit(int64(cfg.MemoryLimit))
	g, err := s.buildGraph(ctx, cfg)
	if err != nil {
		s.queues.Discard()
		s.memory.DiscardStagedLimit()
		// The file watcher does not try this content again; a signal does.
		s.badHash = cfg.Hash
		s.tel.ConfigReloads.WithLabelValues("failed").Inc()
		log.Error("reload failed; the running pipelines are kept, and this file is not tried again until it changes or outpost gets SIGHUP", "error", err, "config_hash", cfg.Hash)
		return
	}
	// The new graph runs: its limits, budget and memory limit apply to
	// both graphs while the old one drains.
	if err := s.queues.Commit(); err != nil {
		log.Error("applying the new queue limits", "error", err)
	}
	s.uplink.Reconfigure(uplinkConfig(cfg))
	s.applyMemoryLimit(cfg)
	old := s.graph
	s.graph, s.cfg, s.badHash = g, cfg, ""
	s.tel.SetBuildInfo(version, revision, cfg.Hash)
	s.showTopology(cfg)
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.shutdownTimeout)
	defer cancel()
	if err := old.Shutdown(sctx); err != nil {
		log.Error("draining the previous pipelines", "error", err)
	}
	s.tel.ConfigReloads.WithLabelValues("success").Inc()
	s.logWarnings(cfg)
	s.logTopology(cfg)
	log.Info("configuration reloaded", "config_hash", cfg.Hash)
	s.reportOrphans(cfg)
}
