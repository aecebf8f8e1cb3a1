package cappedread

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestRead(t *testing.T) {
	body := strings.Repeat("x", 100<<10)
	for _, tc := range []struct {
		name    string
		r       io.Reader
		buf     []byte
		limit   int64
		wantLen int
		wantErr error
	}{
		{"whole, empty buffer", strings.NewReader(body), nil, 1 << 20, len(body), nil},
		{"whole, exactly the limit", strings.NewReader(body), make([]byte, 0, 10), int64(len(body)), len(body), nil},
		{"one byte over", strings.NewReader(body), nil, int64(len(body)) - 1, len(body), ErrTooLarge},
		{"far over: stops near the limit", strings.NewReader(body + body), nil, 1000, -1, ErrTooLarge},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader(body)), nil, 1 << 20, len(body), nil},
		{"empty", strings.NewReader(""), nil, 10, 0, nil},
	} {
		got, err := Read(tc.r, tc.buf, tc.limit)
		if tc.wantLen < 0 { // past the limit, by less than an allocation size class
			tc.wantLen = len(got)
			if len(got) <= int(tc.limit) || len(got) > 2*int(tc.limit) {
				t.Errorf("%s: stopped after %d bytes, limit %d", tc.name, len(got), tc.limit)
			}
		}
		if !errors.Is(err, tc.wantErr) || len(got) != tc.wantLen {
			t.Errorf("%s: %d bytes, %v; want %d, %v", tc.name, len(got), err, tc.wantLen, tc.wantErr)
		}
		if err == nil && !bytes.Equal(got, []byte(body[:len(got)])) {
			t.Errorf("%s: bytes differ", tc.name)
		}
	}
	// Another read error comes back as it is, with what was read.
	boom := errors.New("boom")
	got, err := Read(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), nil, 10)
	if !errors.Is(err, boom) || string(got) != "abc" {
		t.Errorf("read error: %q, %v", got, err)
	}
}
