package probabilisticsamplerprocessor

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
)

// The hash_seed mode's arithmetic, the Collector's: 14 bits of a 32-bit
// FNV-1a hash are compared with the sampling percentage scaled to 2^14.
const (
	hashBits    = 14
	hashBuckets = 1 << hashBits
	hashMask    = hashBuckets - 1
	// hashScale turns a percentage into buckets. It is applied in float32
	// arithmetic, as by the Collector, so that both choose the same
	// threshold for the same sampling_percentage.
	hashScale float32 = hashBuckets / 100.0
)

// FNV-1a, 32 bits (hash/fnv's constants), written out so that hashing a
// string allocates nothing.
const (
	fnvOffset32 uint32 = 2166136261
	fnvPrime32  uint32 = 16777619
)

func fnvString(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= fnvPrime32
	}
	return h
}

func fnvBytes(h uint32, b []byte) uint32 {
	for _, c := range b {
		h ^= uint32(c)
		h *= fnvPrime32
	}
	return h
}

// seedHash is the FNV-1a state after the seed's four bytes, little-endian:
// the hash of seed‖data is fnv…(seedHash(seed), data).
func seedHash(seed uint32) uint32 {
	h := fnvOffset32
	for i := range 4 {
		h ^= (seed >> (8 * i)) & 0xff
		h *= fnvPrime32
	}
	return h
}

// hashRandomness turns a 32-bit hash into a 56-bit randomness value that
// makes, against the hash_seed thresholds, the Collector's decision (keep
// when the low 14 bits are below the scaled percentage): its top 14 bits
// are 2^14-1 minus those bits, its bottom 14 the bits themselves, and the
// 28 between them mix the remaining 18 bits of the hash. Only 14 bits
// decide; the rest keep the value usable as an explicit `rv` downstream.
func hashRandomness(h uint32) sampling.Randomness {
	low := uint64(h & hashMask)
	rest := uint64(h >> hashBits)
	mid := rest ^ rest<<10
	r, _ := sampling.UnsignedToRandomness((hashMask-low)<<42 | mid<<hashBits | low) // < 2^56 by construction
	return r
}

// sampler holds the thresholds a configuration fixes for one signal.
type sampler struct {
	mode string
	// never: sampling_percentage is 0 (or rounds to no hash bucket); only
	// a sampling priority lets an item through.
	never bool
	// ratio is the probability a proportional sampler multiplies by.
	ratio float64
	prec  int
	// base is the outbound threshold of an item that arrives without one
	// (every mode); in equalizing and hash_seed modes it is the threshold.
	base sampling.Threshold
	// baseTV is base's th value.
	baseTV string
	seed   uint32 // FNV-1a state after hash_seed
}

func newSampler(c *Config, logs bool) sampler {
	pct := min(*c.SamplingPercentage, 100)
	s := sampler{mode: c.mode(logs), prec: c.SamplingPrecision, seed: seedHash(c.HashSeed)}
	if pct <= 0 {
		s.never = true
		s.base = sampling.NeverSampleThreshold
		return s
	}
	s.ratio = max(float64(pct)/100, sampling.MinSamplingProbability)
	switch s.mode {
	case ModeHashSeed:
		scaled := uint32(pct * hashScale)
		if scaled == 0 {
			s.never = true
			s.base = sampling.NeverSampleThreshold
			return s
		}
		s.base, _ = sampling.UnsignedToThreshold(uint64(hashBuckets-scaled) << (56 - hashBits)) // < 2^56
	default:
		s.base, _ = sampling.ProbabilityToThresholdWithPrecision(s.ratio, s.prec) // ratio is in range
	}
	s.baseTV = s.base.TValue()
	return s
}

// decide is the outbound threshold of an item that arrives with threshold
// in (has: it carries one). The item is kept when its randomness is at
// least the result. Downstream samplers may only raise a threshold
// (lower the probability), so the result is never below the arriving one.
func (s *sampler) decide(in sampling.Threshold, has bool) sampling.Threshold {
	if s.never {
		return sampling.NeverSampleThreshold
	}
	if !has {
		return s.base
	}
	out := s.base
	if s.mode == ModeProportional {
		// T_o = ProbabilityToThreshold(p × ThresholdToProbability(T_s)).
		var err error
		out, err = sampling.ProbabilityToThresholdWithPrecision(s.ratio*in.Probability(), s.prec)
		if err != nil { // the product fell below 2^-56: not sampled
			return sampling.NeverSampleThreshold
		}
	}
	if sampling.ThresholdGreater(in, out) {
		// Equalizing: the item was sampled harder already and keeps its
		// threshold. Proportional: rounding to sampling_precision must not
		// raise the probability above the arriving one.
		return in
	}
	return out
}

// adjustedCount is the number of items a kept item with threshold th
// stands for.
func adjustedCount(th sampling.Threshold) float64 { return th.AdjustedCount() }

// appendRV appends r's 14 hex digits (an `rv` value) to b.
func appendRV(b []byte, r sampling.Randomness) []byte {
	const hexDigits = "0123456789abcdef"
	u := r.Unsigned()
	for i := sampling.NumHexDigits - 1; i >= 0; i-- {
		b = append(b, hexDigits[(u>>(4*uint(i)))&0xf])
	}
	return b
}
