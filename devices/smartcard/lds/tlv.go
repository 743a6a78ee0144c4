// Package lds reads and writes the Logical Data Structure of an eMRTD
// (ICAO Doc 9303 part 10): the BER-TLV files EF.COM, EF.SOD, DG1 (MRZ),
// DG2 (face, ISO/IEC 19794-5), DG13 (the Vietnamese CCCD profile), DG14
// and DG15, EF.CardAccess, and passive authentication of a read document
// (ICAO 9303 p11 §5.1): the SOD's CMS signature, its chain to a CSCA and
// the data-group hashes.
//
// Every parser here reads bytes that came from a card and returns an error
// that says what is wrong and where, never panics.
package lds

import (
	"errors"
	"fmt"
)

// TLV is one BER-TLV data object (ISO/IEC 7816-4 §5.2, ICAO 9303 p10 §4.6).
type TLV struct {
	Tag   uint32 // the tag bytes big-endian (5F1F, 7F61, 61...)
	Value []byte
	// Offset is where the object starts in the parsed buffer.
	Offset int
}

// Constructed reports whether the tag's constructed bit is set.
func (t TLV) Constructed() bool {
	b := t.Tag
	for b > 0xFF {
		b >>= 8
	}
	return b&0x20 != 0
}

// maxTagBytes bounds tag length: ICAO tags have at most 3 bytes.
const maxTagBytes = 3

// ParseTLV reads one data object from the start of b and returns it with
// the bytes that follow. base is added to offsets in error messages.
func ParseTLV(b []byte, base int) (TLV, []byte, error) {
	if len(b) == 0 {
		return TLV{}, nil, fmt.Errorf("offset %d: expected a data object, found end of data", base)
	}
	i := 0
	tag := uint32(b[0])
	i++
	if b[0]&0x1F == 0x1F {
		for {
			if i >= len(b) {
				return TLV{}, nil, fmt.Errorf("offset %d: truncated multi-byte tag", base)
			}
			if i >= maxTagBytes {
				return TLV{}, nil, fmt.Errorf("offset %d: tag longer than %d bytes", base, maxTagBytes)
			}
			tag = tag<<8 | uint32(b[i])
			i++
			if b[i-1]&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(b) {
		return TLV{}, nil, fmt.Errorf("offset %d: tag %X without length", base, tag)
	}
	var n int
	switch l := b[i]; {
	case l < 0x80:
		n = int(l)
		i++
	case l == 0x80:
		return TLV{}, nil, fmt.Errorf("offset %d: tag %X uses indefinite length, not allowed in the LDS", base, tag)
	case l <= 0x83:
		k := int(l & 0x7F)
		if i+1+k > len(b) {
			return TLV{}, nil, fmt.Errorf("offset %d: tag %X: truncated length", base, tag)
		}
		for _, c := range b[i+1 : i+1+k] {
			n = n<<8 | int(c)
		}
		i += 1 + k
	default:
		return TLV{}, nil, fmt.Errorf("offset %d: tag %X: length field %02X too long", base, tag, l)
	}
	if n > len(b)-i {
		return TLV{}, nil, fmt.Errorf("offset %d: tag %X claims %d bytes but only %d remain", base, tag, n, len(b)-i)
	}
	return TLV{Tag: tag, Value: b[i : i+n : i+n], Offset: base}, b[i+n:], nil
}

// ParseAll reads consecutive data objects filling b.
func ParseAll(b []byte, base int) ([]TLV, error) {
	var out []TLV
	off := base
	for len(b) > 0 {
		t, rest, err := ParseTLV(b, off)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		off += len(b) - len(rest)
		b = rest
	}
	return out, nil
}

// valueOffset returns the offset of t's value given its full encoding size.
func valueOffset(t TLV) int {
	return t.Offset + len(EncodeTLV(t.Tag, t.Value)) - len(t.Value)
}

// Children parses the value of a constructed object.
func (t TLV) Children() ([]TLV, error) {
	return ParseAll(t.Value, valueOffset(t))
}

// Find returns the first child with the given tag.
func Find(objs []TLV, tag uint32) (TLV, bool) {
	for _, o := range objs {
		if o.Tag == tag {
			return o, true
		}
	}
	return TLV{}, false
}

// ErrWrongTag is returned when a file does not start with the tag its
// file identifier requires.
var ErrWrongTag = errors.New("unexpected tag")

// parseFile reads a whole LDS file: exactly one object with the wanted tag.
func parseFile(b []byte, tag uint32, name string) (TLV, error) {
	t, rest, err := ParseTLV(b, 0)
	if err != nil {
		return TLV{}, fmt.Errorf("%s: %w", name, err)
	}
	if t.Tag != tag {
		return TLV{}, fmt.Errorf("%s: %w %X, want %X", name, ErrWrongTag, t.Tag, tag)
	}
	if len(rest) != 0 {
		return TLV{}, fmt.Errorf("%s: %d bytes after the file's data object", name, len(rest))
	}
	return t, nil
}

// EncodeTLV encodes one data object with a definite length.
func EncodeTLV(tag uint32, value []byte) []byte {
	out := make([]byte, 0, len(value)+8)
	switch {
	case tag > 0xFFFF:
		out = append(out, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xFF:
		out = append(out, byte(tag>>8), byte(tag))
	default:
		out = append(out, byte(tag))
	}
	n := len(value)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	case n < 0x10000:
		out = append(out, 0x82, byte(n>>8), byte(n))
	default:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, value...)
}

// cat concatenates encodings.
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
