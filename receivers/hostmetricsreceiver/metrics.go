package hostmetricsreceiver

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// kind is a metric's data type.
type kind uint8

const (
	sumInt      kind = iota // cumulative monotonic int sum (a counter)
	sumDouble               // cumulative monotonic double sum
	updownInt               // cumulative non-monotonic int sum
	gaugeDouble             // double gauge
)

// metricDef is one metric a scraper can emit: name, unit and description
// as the OpenTelemetry system semantic conventions (and the Collector's
// hostmetrics receiver) give them.
type metricDef struct {
	name, unit, desc string
	kind             kind
	off              bool // disabled unless metrics.<name>.enabled is true
}

var (
	mCPUTime = metricDef{name: "system.cpu.time", unit: "s", desc: "Seconds each logical CPU spent in each mode.", kind: sumDouble}

	mMemUsage       = metricDef{name: "system.memory.usage", unit: "By", desc: "Bytes of memory in use, by state.", kind: updownInt}
	mMemUtilization = metricDef{name: "system.memory.utilization", unit: "1", desc: "Fraction of memory in each state.", kind: gaugeDouble, off: true}
	mMemLimit       = metricDef{name: "system.memory.limit", unit: "By", desc: "Total memory available to the system.", kind: updownInt, off: true}

	mPagingUsage       = metricDef{name: "system.paging.usage", unit: "By", desc: "Swap space in use, by device and state.", kind: updownInt}
	mPagingOperations  = metricDef{name: "system.paging.operations", unit: "{operations}", desc: "Paging operations, by direction and type (major: swap; minor: page cache).", kind: sumInt}
	mPagingFaults      = metricDef{name: "system.paging.faults", unit: "{faults}", desc: "Page faults, by type.", kind: sumInt}
	mPagingUtilization = metricDef{name: "system.paging.utilization", unit: "1", desc: "Fraction of swap space in each state.", kind: gaugeDouble, off: true}

	mLoad1  = metricDef{name: "system.cpu.load_average.1m", unit: "{thread}", desc: "Average CPU load over 1 minute.", kind: gaugeDouble}
	mLoad5  = metricDef{name: "system.cpu.load_average.5m", unit: "{thread}", desc: "Average CPU load over 5 minutes.", kind: gaugeDouble}
	mLoad15 = metricDef{name: "system.cpu.load_average.15m", unit: "{thread}", desc: "Average CPU load over 15 minutes.", kind: gaugeDouble}

	mDiskIO             = metricDef{name: "system.disk.io", unit: "By", desc: "Bytes read from and written to each disk.", kind: sumInt}
	mDiskOperations     = metricDef{name: "system.disk.operations", unit: "{operations}", desc: "Read and write operations completed, by disk.", kind: sumInt}
	mDiskIOTime         = metricDef{name: "system.disk.io_time", unit: "s", desc: "Time each disk had I/O in progress.", kind: sumDouble}
	mDiskOperationTime  = metricDef{name: "system.disk.operation_time", unit: "s", desc: "Time spent in read and write operations, by disk.", kind: sumDouble}
	mDiskWeightedIOTime = metricDef{name: "system.disk.weighted_io_time", unit: "s", desc: "I/O time of each disk weighted by the operations in progress.", kind: sumDouble}
	mDiskPending        = metricDef{name: "system.disk.pending_operations", unit: "{operations}", desc: "Operations in progress, by disk.", kind: updownInt}
	mDiskMerged         = metricDef{name: "system.disk.merged", unit: "{operations}", desc: "Adjacent operations merged, by disk and direction.", kind: sumInt}

	mFSUsage       = metricDef{name: "system.filesystem.usage", unit: "By", desc: "File system space, by state (used, free: available to users, reserved: for the superuser).", kind: updownInt}
	mFSInodes      = metricDef{name: "system.filesystem.inodes.usage", unit: "{inodes}", desc: "File system inodes, by state.", kind: updownInt}
	mFSUtilization = metricDef{name: "system.filesystem.utilization", unit: "1", desc: "Fraction of the file system space used.", kind: gaugeDouble, off: true}

	mNetIO      = metricDef{name: "system.network.io", unit: "By", desc: "Bytes received and transmitted, by interface.", kind: sumInt}
	mNetPackets = metricDef{name: "system.network.packets", unit: "{packets}", desc: "Packets received and transmitted, by interface.", kind: sumInt}
	mNetErrors  = metricDef{name: "system.network.errors", unit: "{errors}", desc: "Receive and transmit errors, by interface.", kind: sumInt}
	mNetDropped = metricDef{name: "system.network.dropped", unit: "{packets}", desc: "Packets dropped on receive and transmit, by interface.", kind: sumInt}

	mProcCount   = metricDef{name: "system.processes.count", unit: "{processes}", desc: "Processes by status (running, blocked).", kind: updownInt}
	mProcCreated = metricDef{name: "system.processes.created", unit: "{processes}", desc: "Processes created since boot.", kind: sumInt}
)

// The metrics of each scraper, for validation and docs.
var (
	cpuMetrics        = []metricDef{mCPUTime}
	memoryMetrics     = []metricDef{mMemUsage, mMemUtilization, mMemLimit}
	pagingMetrics     = []metricDef{mPagingUsage, mPagingOperations, mPagingFaults, mPagingUtilization}
	loadMetrics       = []metricDef{mLoad1, mLoad5, mLoad15}
	diskMetrics       = []metricDef{mDiskIO, mDiskOperations, mDiskIOTime, mDiskOperationTime, mDiskWeightedIOTime, mDiskPending, mDiskMerged}
	filesystemMetrics = []metricDef{mFSUsage, mFSInodes, mFSUtilization}
	networkMetrics    = []metricDef{mNetIO, mNetPackets, mNetErrors, mNetDropped}
	processesMetrics  = []metricDef{mProcCount, mProcCreated}
)

// Attribute keys, as the Collector's hostmetrics receiver writes them.
const (
	attrCPU        = "cpu"
	attrState      = "state"
	attrDevice     = "device"
	attrDirection  = "direction"
	attrType       = "type"
	attrMode       = "mode"
	attrMountpoint = "mountpoint"
	attrStatus     = "status"
)

// batch builds the metrics of one scraper in one cycle: one scope, each
// metric created at its first data point, sums started at boot.
type batch struct {
	scope   pmetric.ScopeMetrics
	enabled MetricsConfig
	now     pcommon.Timestamp
	start   pcommon.Timestamp
	metrics map[string]pmetric.Metric
}

func newBatch(scope pmetric.ScopeMetrics, enabled MetricsConfig, now, start pcommon.Timestamp) *batch {
	return &batch{scope: scope, enabled: enabled, now: now, start: start, metrics: map[string]pmetric.Metric{}}
}

// on reports whether d is emitted.
func (b *batch) on(d metricDef) bool {
	if c, ok := b.enabled[d.name]; ok {
		return c.Enabled
	}
	return !d.off
}

// point appends a data point of d, stamped with the cycle's time (and the
// boot time as start time for sums), and reports false, appending nothing,
// when d is off.
func (b *batch) point(d metricDef) (pmetric.NumberDataPoint, bool) {
	if !b.on(d) {
		return pmetric.NumberDataPoint{}, false
	}
	m, ok := b.metrics[d.name]
	if !ok {
		m = b.scope.Metrics().AppendEmpty()
		m.SetName(d.name)
		m.SetUnit(d.unit)
		m.SetDescription(d.desc)
		switch d.kind {
		case sumInt, sumDouble, updownInt:
			s := m.SetEmptySum()
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			s.SetIsMonotonic(d.kind != updownInt)
		default:
			m.SetEmptyGauge()
		}
		b.metrics[d.name] = m
	}
	var dp pmetric.NumberDataPoint
	if m.Type() == pmetric.MetricTypeSum {
		dp = m.Sum().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(b.start)
	} else {
		dp = m.Gauge().DataPoints().AppendEmpty()
	}
	dp.SetTimestamp(b.now)
	return dp, true
}

// int records an integer point with attributes given as key, value pairs.
func (b *batch) int(d metricDef, v int64, kv ...string) {
	if dp, ok := b.point(d); ok {
		dp.SetIntValue(v)
		putAttrs(dp.Attributes(), kv)
	}
}

// double records a floating-point point.
func (b *batch) double(d metricDef, v float64, kv ...string) {
	if dp, ok := b.point(d); ok {
		dp.SetDoubleValue(v)
		putAttrs(dp.Attributes(), kv)
	}
}

func putAttrs(m pcommon.Map, kv []string) {
	m.EnsureCapacity(len(kv) / 2)
	for i := 0; i+1 < len(kv); i += 2 {
		m.PutStr(kv[i], kv[i+1])
	}
}
