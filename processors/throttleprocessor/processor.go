package throttleprocessor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/pipeline"
)

// Drop reasons (label values).
const (
	reasonThrottled   = "throttled"
	reasonStreamLimit = "stream_limit"
)

var errNilNext = errors.New("throttle processor: nil next consumer")

// bucket is one stream's token bucket.
type bucket struct {
	tokens float64
	last   time.Time // when tokens was computed
}

// processor is the throttle processor. It keeps no goroutine: buckets are
// refilled lazily, from the time that passed, when a record takes a token.
type processor struct {
	next   consumer.Logs
	fields []keyField
	perRes bool                // every key field is a resource attribute: one key per resource
	keep   plog.SeverityNumber // 0: none always kept
	burst  float64             // bucket size: threshold
	rate   float64             // tokens per second
	max    int
	window time.Duration
	now    func() time.Time

	dropThrottled prometheus.Counter // nil without telemetry
	dropLimit     prometheus.Counter
	streamsGauge  prometheus.Gauge

	mu        sync.Mutex
	streams   map[uint64]*bucket // by hash of the stream key
	overflow  bucket             // shared by streams beyond max_streams
	lastSweep time.Time
	keyBuf    []byte
}

func newProcessor(set pipeline.Settings, cfg pipeline.Config, next consumer.Logs) (*processor, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("throttle processor: unexpected config type %T", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if next == nil {
		return nil, errNilNext
	}
	p := &processor{
		next:    next,
		burst:   float64(c.Threshold),
		rate:    float64(c.Threshold) / c.Window.Seconds(),
		max:     c.MaxStreams,
		window:  c.Window,
		now:     time.Now,
		streams: map[uint64]*bucket{},
	}
	p.overflow.tokens = p.burst
	for _, f := range c.KeyFields {
		kf, _ := parseKeyField(f) // checked by Validate
		p.fields = append(p.fields, kf)
	}
	p.perRes = true
	for _, f := range p.fields {
		p.perRes = p.perRes && f.resource
	}
	p.keep, _ = parseKeepSeverity(c.KeepSeverity)
	if tel := set.Telemetry; tel != nil {
		id, sig := set.ID.String(), string(pipeline.SignalLogs)
		p.dropThrottled = tel.ProcessorDropped.WithLabelValues(id, sig, reasonThrottled)
		p.dropLimit = tel.ProcessorDropped.WithLabelValues(id, sig, reasonStreamLimit)
		p.streamsGauge = tel.Reduce.ThrottleStream.WithLabelValues(id)
	}
	return p, nil
}

// Capabilities reports that the processor mutates data: it removes the
// records it drops from the request.
func (p *processor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// Start does nothing: the processor has no background work.
func (p *processor) Start(context.Context, pipeline.Host) error { return nil }

// Shutdown does nothing: the processor holds no data.
func (p *processor) Shutdown(context.Context) error { return nil }

// ConsumeLogs drops the records whose stream has no token left, keeps the
// rest (and every record at or above keep_severity) and hands them on. A
// request left empty is not handed on.
func (p *processor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	now := p.now()
	var throttled, limited int64
	p.mu.Lock()
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		res := rl.Resource().Attributes()
		var resKey uint64
		if p.perRes {
			resKey = p.keyLocked(res, res)
		}
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				if p.keep != 0 && severityOf(lr) >= p.keep {
					return false
				}
				key := resKey
				if !p.perRes {
					key = p.keyLocked(res, lr.Attributes())
				}
				b, shared := p.bucketLocked(key, now)
				if p.take(b, now) {
					return false
				}
				if shared {
					limited++
				} else {
					throttled++
				}
				return true
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	if p.streamsGauge != nil {
		p.streamsGauge.Set(float64(len(p.streams)))
	}
	p.mu.Unlock()
	if p.dropThrottled != nil {
		p.dropThrottled.Add(float64(throttled))
		p.dropLimit.Add(float64(limited))
	}
	if ld.ResourceLogs().Len() == 0 {
		return nil
	}
	return p.next.ConsumeLogs(ctx, ld)
}

// keyLocked hashes the stream key of a record: each key field's value,
// length-prefixed, so that ("ab","c") and ("a","bc") differ.
func (p *processor) keyLocked(res, attrs pcommon.Map) uint64 {
	b := p.keyBuf[:0]
	for _, f := range p.fields {
		m := attrs
		if f.resource {
			m = res
		}
		var s string
		if v, ok := m.Get(f.key); ok {
			s = v.AsString()
		}
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	p.keyBuf = b
	return xxhash.Sum64(b)
}

// bucketLocked returns the stream's bucket, creating it full; shared
// reports that the stream has none and uses the overflow bucket because
// max_streams buckets are in use.
func (p *processor) bucketLocked(key uint64, now time.Time) (b *bucket, shared bool) {
	if b, ok := p.streams[key]; ok {
		return b, false
	}
	if len(p.streams) >= p.max && now.Sub(p.lastSweep) >= p.window {
		p.sweepLocked(now)
	}
	if len(p.streams) >= p.max {
		return &p.overflow, true
	}
	b = &bucket{tokens: p.burst, last: now}
	p.streams[key] = b
	return b, false
}

// sweepLocked forgets the buckets that have refilled: a full bucket is the
// same as none, so forgetting it changes no decision. It runs at most once
// per window, and only when max_streams is reached.
func (p *processor) sweepLocked(now time.Time) {
	p.lastSweep = now
	for k, b := range p.streams {
		if b.tokens+now.Sub(b.last).Seconds()*p.rate >= p.burst {
			delete(p.streams, k)
		}
	}
}

// take refills b for the time since it was last used and takes a token if
// there is one.
func (p *processor) take(b *bucket, now time.Time) bool {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(p.burst, b.tokens+el.Seconds()*p.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
