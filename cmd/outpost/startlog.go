package main

import (
	"slices"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/queue"
)

// logWarnings logs what the configuration says that is accepted but
// probably not meant (configs.Config.Warnings).
func (s *service) logWarnings(cfg *configs.Config) {
	for _, w := range cfg.Warnings {
		s.logger.Warn("configuration", "warning", w.Error())
	}
}

// logTopology logs, once per start or reload, each listener (receiver,
// protocol, address) and each pipeline with its components. An address
// that binds every interface is named as such.
func (s *service) logTopology(cfg *configs.Config) {
	for _, e := range cfg.Endpoints() {
		args := []any{"receiver", e.Receiver.String(), "protocol", e.Protocol, "address", e.Address}
		if allInterfaces(e.Address) {
			args = append(args, "interfaces", "all")
		}
		s.logger.Info("listening", args...)
	}
	pids := make([]pipeline.ID, 0, len(cfg.Graph.Pipelines))
	for pid := range cfg.Graph.Pipelines {
		pids = append(pids, pid)
	}
	slices.SortFunc(pids, func(a, b pipeline.ID) int { return strings.Compare(a.String(), b.String()) })
	for _, pid := range pids {
		pc := cfg.Graph.Pipelines[pid]
		s.logger.Info("pipeline", "pipeline", pid.String(),
			"receivers", joinIDs(pc.Receivers), "processors", joinIDs(pc.Processors), "exporters", joinIDs(pc.Exporters))
	}
}

// logBacklog logs, after the pipelines stopped, what each exporter's disk
// queue still holds: it is sent after the next start.
func (s *service) logBacklog(cfg *configs.Config) {
	if cfg == nil {
		return
	}
	owned := ownedQueues(cfg)
	dirs := make([]string, 0, len(owned))
	for d := range owned {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	for _, dir := range dirs {
		info, err := queue.Inspect(nil, dir)
		if err != nil {
			s.logger.Warn("cannot read an exporter's queue after shutdown", "exporter", owned[dir].String(), "error", err)
			continue
		}
		t := info.Total()
		args := []any{"exporter", owned[dir].String(), "records", t.Records, "items", t.Items, "bytes", t.Bytes}
		if t.Records > 0 {
			args = append(args, "oldest_age", time.Since(t.Oldest).Round(time.Second))
		}
		s.logger.Info("left queued on disk; sent after the next start", args...)
	}
}

func allInterfaces(addr string) bool {
	return strings.HasPrefix(addr, ":") || strings.HasPrefix(addr, "0.0.0.0:") || strings.HasPrefix(addr, "[::]:")
}

func joinIDs(ids []pipeline.ID) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return strings.Join(out, ",")
}
