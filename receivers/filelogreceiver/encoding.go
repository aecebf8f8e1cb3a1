package filelogreceiver

import (
	"fmt"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// fileEncoding is a configured encoding: enc decodes to UTF-8; nop means
// bytes are not decoded nor split.
type fileEncoding struct {
	enc  encoding.Encoding
	utf8 bool // no decoding needed, only validation
	nop  bool
}

func lookupEncoding(name string) (fileEncoding, error) {
	switch strings.ToLower(name) {
	case "", "utf-8", "utf8":
		return fileEncoding{enc: unicode.UTF8, utf8: true}, nil
	case "ascii", "us-ascii":
		// ASCII is UTF-8's subset: bytes ≥ 0x80 are invalid either way.
		return fileEncoding{enc: unicode.UTF8, utf8: true}, nil
	case "latin1", "iso-8859-1":
		return fileEncoding{enc: charmap.ISO8859_1}, nil
	case "utf-16le":
		return fileEncoding{enc: unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)}, nil
	case "utf-16be":
		return fileEncoding{enc: unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)}, nil
	case "nop":
		return fileEncoding{enc: encoding.Nop, nop: true}, nil
	}
	return fileEncoding{}, fmt.Errorf("unknown encoding %q (want utf-8, ascii, latin1, utf-16le, utf-16be or nop)", name)
}
