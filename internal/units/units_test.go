package units

import (
	"encoding"
	"strings"
	"testing"
)

var (
	_ encoding.TextUnmarshaler = (*ByteSize)(nil)
	_ encoding.TextMarshaler   = ByteSize(0)
	_ encoding.TextUnmarshaler = (*Rate)(nil)
	_ encoding.TextMarshaler   = Rate(0)
)

func TestParseByteSize(t *testing.T) {
	cases := []struct {
		in      string
		want    ByteSize
		wantErr string // a part of the error text; "" for none
	}{
		{in: "0", want: 0},
		{in: "10", want: 10},
		{in: "10 B", want: 10},
		{in: " 64KB ", want: 64000},
		{in: "1.5KiB", want: 1536},
		{in: "512MiB", want: 512 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "3MB", want: 3e6},
		{in: "1TB", want: 1e12},
		{in: "1TiB", want: 1 << 40},
		{in: "", wantErr: `invalid size "": want a non-negative number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB, ...)`},
		{in: "-1", wantErr: `invalid size "-1": want a non-negative number`},
		{in: "1XB", wantErr: `invalid size "1XB"`},
		{in: "MiB", wantErr: `invalid size "MiB"`},
		{in: "NaN", wantErr: `invalid size "NaN"`},
		{in: "Inf", wantErr: `invalid size "Inf"`},
		{in: "1e30GiB", wantErr: `invalid size "1e30GiB": too large`},
		{in: "9223372036854775808", wantErr: `too large`}, // 2^63
		{in: "8388608TiB", wantErr: `too large`},          // 2^63
		{in: "8388607TiB", want: 8388607 << 40},
	}
	for _, c := range cases {
		got, err := ParseByteSize(c.in)
		switch {
		case c.wantErr == "" && (err != nil || got != c.want):
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("ParseByteSize(%q) = %d, %v; want an error with %q", c.in, got, err, c.wantErr)
		}
	}
}

func TestByteSizeText(t *testing.T) {
	cases := []struct {
		size ByteSize
		text string
	}{
		{0, "0B"},
		{1, "1B"},
		{1000, "1000B"},
		{1536, "1536B"},
		{1 << 10, "1KiB"},
		{3 << 20, "3MiB"},
		{(1 << 30) + (1 << 20), "1025MiB"},
		{512 << 30, "512GiB"},
		{2 << 40, "2TiB"},
	}
	for _, c := range cases {
		b, err := c.size.MarshalText()
		if err != nil || string(b) != c.text || c.size.String() != c.text {
			t.Errorf("%d: MarshalText = %q, %v; String = %q; want %q", int64(c.size), b, err, c.size.String(), c.text)
		}
		var back ByteSize
		if err := back.UnmarshalText(b); err != nil || back != c.size {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", b, back, err, c.size)
		}
	}
	v := ByteSize(7)
	if err := v.UnmarshalText([]byte("12XB")); err == nil || v != 7 {
		t.Errorf("UnmarshalText of a bad size: %v, value %d (want an error and the value kept)", err, v)
	}
}

func TestRate(t *testing.T) {
	cases := []struct {
		in      string
		want    Rate
		wantErr string
	}{
		{in: "64KiB/s", want: 64 << 10},
		{in: "1MB/s", want: 1e6},
		{in: "2MiB", want: 2 << 20}, // a plain size is per second
		{in: "0", want: 0},
		{in: "fast", wantErr: `invalid rate "fast": want a size per second such as 64KiB/s`},
		{in: "1MiB/min", wantErr: `invalid rate "1MiB/min"`},
		{in: "-1KiB/s", wantErr: `invalid rate "-1KiB/s"`},
	}
	for _, c := range cases {
		got, err := ParseRate(c.in)
		switch {
		case c.wantErr == "" && (err != nil || got != c.want):
			t.Errorf("ParseRate(%q) = %d, %v; want %d", c.in, got, err, c.want)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("ParseRate(%q) = %d, %v; want an error with %q", c.in, got, err, c.wantErr)
		}
	}
	r := Rate(64 << 10)
	b, err := r.MarshalText()
	if err != nil || string(b) != "64KiB/s" {
		t.Errorf("MarshalText = %q, %v; want 64KiB/s", b, err)
	}
	var back Rate
	if err := back.UnmarshalText(b); err != nil || back != r {
		t.Errorf("UnmarshalText(%q) = %d, %v", b, back, err)
	}
}

// FuzzParseByteSize checks that any text either fails or parses to a
// non-negative size whose String parses back to the same size.
func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"0", "512MiB", "1.5KiB", "64KB", "1e30GiB", "NaN", "-1", " 10 B", "8388608TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseByteSize(%q) = %d, negative", s, v)
		}
		back, err := ParseByteSize(v.String())
		if err != nil || back != v {
			t.Fatalf("ParseByteSize(%q) = %d; its String %q parses to %d, %v", s, v, v.String(), back, err)
		}
	})
}
