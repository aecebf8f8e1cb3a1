// Package units holds the sizes and rates that configurations write with a
// unit: ByteSize ("512MiB", "64KB") and Rate ("64KiB/s"). Both decode from
// text (encoding.TextUnmarshaler), which is how the configs package reads
// them from YAML: its decoder calls UnmarshalText on a scalar and reports
// the error with the file, line and key path. They encode back to text in
// the form String gives.
//
// It is a leaf package (standard library only) so that both configs and
// the pipeline packages can use these types: nothing under pipeline/
// imports configs.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes written as an integer with an optional unit:
// B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB (powers of 1024), for
// example 512MiB or 64KB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseByteSize parses a size such as "512MiB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("invalid size %q: want a non-negative number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB, ...)", s)
	}
	v := n * mult
	// float64(math.MaxInt64) is 2^63, one past the largest int64: a size
	// of 2^63 or more would wrap to a negative ByteSize.
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return ByteSize(v), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// String formats the size with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && int64(b)%u.m == 0 {
			return strconv.FormatInt(int64(b)/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// Rate is a byte rate written as a size per second, such as 64KiB/s. A
// plain size is read as per second too.
type Rate int64

// ParseRate parses a rate such as "64KiB/s".
func ParseRate(s string) (Rate, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(t, "/s")
	b, err := ParseByteSize(t)
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q: want a size per second such as 64KiB/s", s)
	}
	return Rate(b), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Rate) UnmarshalText(text []byte) error {
	v, err := ParseRate(string(text))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// String formats the rate as its size per second, such as 64KiB/s.
func (r Rate) String() string { return ByteSize(r).String() + "/s" }

// MarshalText implements encoding.TextMarshaler.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }
