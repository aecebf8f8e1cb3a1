package tailsamplingprocessor

import "go.opentelemetry.io/collector/pdata/pcommon"

// decisionCache remembers the decisions of recently decided traces, so
// that their late spans follow them: up to sampledCap sampled and
// nonSampledCap not-sampled trace IDs, each set evicting its oldest entry
// first (FIFO). A cap of 0 keeps none of that kind.
type decisionCache struct {
	m          map[pcommon.TraceID]bool // true: sampled
	sampled    idRing
	notSampled idRing
}

// idRing holds the IDs of one kind in insertion order.
type idRing struct {
	ids  []pcommon.TraceID
	next int
	full bool
}

func newDecisionCache(sampledCap, nonSampledCap int) decisionCache {
	return decisionCache{
		m:          make(map[pcommon.TraceID]bool),
		sampled:    idRing{ids: make([]pcommon.TraceID, sampledCap)},
		notSampled: idRing{ids: make([]pcommon.TraceID, nonSampledCap)},
	}
}

// get returns the cached decision for id.
func (c *decisionCache) get(id pcommon.TraceID) (keep, ok bool) {
	keep, ok = c.m[id]
	return keep, ok
}

// put records a decision, evicting the oldest of its kind when full.
func (c *decisionCache) put(id pcommon.TraceID, keep bool) {
	r := &c.notSampled
	if keep {
		r = &c.sampled
	}
	if len(r.ids) == 0 {
		return
	}
	if r.full {
		old := r.ids[r.next]
		if k, ok := c.m[old]; ok && k == keep {
			delete(c.m, old)
		}
	}
	r.ids[r.next] = id
	c.m[id] = keep
	r.next++
	if r.next == len(r.ids) {
		r.next, r.full = 0, true
	}
}

// len returns the IDs cached.
func (c *decisionCache) len() int { return len(c.m) }
