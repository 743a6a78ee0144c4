// Package iso19794 reads and writes ISO/IEC 19794-4:2011 finger image
// records ("FIR", version 020) and ISO/IEC 19794-5:2011 face image records
// ("FAC", version 030): the big-endian binary formats that central systems
// and travel documents use alongside ANSI/NIST-ITL.
//
// Both parsers check every length against the bytes present, never
// allocate more than the input holds, and report errors with the record
// part, field name and byte offset.
package iso19794

import (
	"encoding/binary"
	"fmt"
	"time"
)

// ParseError says what is wrong with a record and where.
type ParseError struct {
	Format         string // "19794-4" or "19794-5"
	Representation int    // 1-based; 0 for the general header
	Field          string
	Offset         int
	Msg            string
}

func (e *ParseError) Error() string {
	where := "general header"
	if e.Representation > 0 {
		where = fmt.Sprintf("representation %d", e.Representation)
	}
	return fmt.Sprintf("iso%s: %s, %s at offset %d: %s", e.Format, where, e.Field, e.Offset, e.Msg)
}

// DateTime is the 9-byte capture date and time of a representation header
// (ISO/IEC 19794-1:2011 §7.4.2): year, month, day, hour, minute, second and
// millisecond, in UTC. All bytes 0xFF mean "not given".
type DateTime struct {
	Year                             uint16
	Month, Day, Hour, Minute, Second uint8
	Millisecond                      uint16
}

// UnknownTime is the all-0xFF "capture time not given" value.
var UnknownTime = DateTime{0xFFFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFFFF}

// FromTime converts t to UTC record form.
func FromTime(t time.Time) DateTime {
	if t.IsZero() {
		return UnknownTime
	}
	t = t.UTC()
	return DateTime{uint16(t.Year()), uint8(t.Month()), uint8(t.Day()), uint8(t.Hour()), uint8(t.Minute()),
		uint8(t.Second()), uint16(t.Nanosecond() / int(time.Millisecond))}
}

// Time converts back; the zero Time for UnknownTime.
func (d DateTime) Time() time.Time {
	if d == UnknownTime {
		return time.Time{}
	}
	return time.Date(int(d.Year), time.Month(d.Month), int(d.Day), int(d.Hour), int(d.Minute), int(d.Second),
		int(d.Millisecond)*int(time.Millisecond), time.UTC)
}

func (d DateTime) valid() bool {
	if d == UnknownTime {
		return true
	}
	return d.Month >= 1 && d.Month <= 12 && d.Day >= 1 && d.Day <= 31 && d.Hour < 24 && d.Minute < 60 &&
		d.Second < 60 && d.Millisecond < 1000
}

// QualityBlock is one 5-byte quality block (ISO/IEC 19794-1:2011 §7.4.3):
// a score 0-100 (255 = failed to compute) and the IBIA-registered vendor
// and algorithm that produced it.
type QualityBlock struct {
	Score       uint8
	VendorID    uint16
	AlgorithmID uint16
}

// QualityFailed is the score meaning the algorithm could not compute one.
const QualityFailed = 255

// cursor reads big-endian values and remembers where it is.
type cursor struct {
	b      []byte
	pos    int
	format string
	rep    int
	err    *ParseError
}

func (c *cursor) fail(field, format string, args ...any) {
	if c.err == nil {
		c.err = &ParseError{Format: c.format, Representation: c.rep, Field: field, Offset: c.pos, Msg: fmt.Sprintf(format, args...)}
	}
}

func (c *cursor) need(n int, field string) bool {
	if c.err != nil {
		return false
	}
	if n < 0 || len(c.b)-c.pos < n {
		c.fail(field, "needs %d bytes, %d left", n, len(c.b)-c.pos)
		return false
	}
	return true
}

func (c *cursor) u8(field string) uint8 {
	if !c.need(1, field) {
		return 0
	}
	v := c.b[c.pos]
	c.pos++
	return v
}

func (c *cursor) u16(field string) uint16 {
	if !c.need(2, field) {
		return 0
	}
	v := binary.BigEndian.Uint16(c.b[c.pos:])
	c.pos += 2
	return v
}

func (c *cursor) u24(field string) uint32 {
	if !c.need(3, field) {
		return 0
	}
	v := uint32(c.b[c.pos])<<16 | uint32(c.b[c.pos+1])<<8 | uint32(c.b[c.pos+2])
	c.pos += 3
	return v
}

func (c *cursor) u32(field string) uint32 {
	if !c.need(4, field) {
		return 0
	}
	v := binary.BigEndian.Uint32(c.b[c.pos:])
	c.pos += 4
	return v
}

func (c *cursor) bytes(n int, field string) []byte {
	if !c.need(n, field) {
		return nil
	}
	v := c.b[c.pos : c.pos+n : c.pos+n]
	c.pos += n
	return v
}

func (c *cursor) dateTime() DateTime {
	start := c.pos
	d := DateTime{c.u16("capture date"), c.u8("capture date"), c.u8("capture date"), c.u8("capture time"),
		c.u8("capture time"), c.u8("capture time"), c.u16("capture time")}
	if c.err == nil && !d.valid() {
		c.pos = start
		c.fail("capture date and time", "%+v is not a valid date and time", d)
	}
	return d
}

func (c *cursor) quality() []QualityBlock {
	n := int(c.u8("number of quality blocks"))
	if !c.need(5*n, "quality blocks") {
		return nil
	}
	var q []QualityBlock
	for i := 0; i < n; i++ {
		qb := QualityBlock{c.u8("quality score"), c.u16("quality vendor"), c.u16("quality algorithm")}
		if qb.Score > 100 && qb.Score != QualityFailed {
			c.pos -= 5
			c.fail("quality score", "score %d, want 0-100 or 255", qb.Score)
		}
		q = append(q, qb)
	}
	return q
}

func putDateTime(b []byte, d DateTime) []byte {
	b = binary.BigEndian.AppendUint16(b, d.Year)
	b = append(b, d.Month, d.Day, d.Hour, d.Minute, d.Second)
	return binary.BigEndian.AppendUint16(b, d.Millisecond)
}

func putQuality(b []byte, q []QualityBlock) ([]byte, error) {
	if len(q) > 255 {
		return nil, fmt.Errorf("%d quality blocks, at most 255", len(q))
	}
	b = append(b, uint8(len(q)))
	for _, qb := range q {
		if qb.Score > 100 && qb.Score != QualityFailed {
			return nil, fmt.Errorf("quality score %d, want 0-100 or 255", qb.Score)
		}
		b = append(b, qb.Score)
		b = binary.BigEndian.AppendUint16(b, qb.VendorID)
		b = binary.BigEndian.AppendUint16(b, qb.AlgorithmID)
	}
	return b, nil
}

// header reads a record's general header start: format identifier,
// version and record length, which must equal the bytes given (§5.4 of
// both parts).
func (c *cursor) header(id, version [4]byte, std string) {
	if got := c.bytes(4, "format identifier"); c.err == nil && [4]byte(got) != id {
		c.pos = 0
		c.fail("format identifier", "%q, want %q", got, id[:])
	}
	if got := c.bytes(4, "version"); c.err == nil && [4]byte(got) != version {
		c.pos = 4
		c.fail("version", "%q, want %q (%s)", got, version[:], std)
	}
	total := c.u32("record length")
	if c.err == nil && uint64(total) != uint64(len(c.b)) {
		c.pos = 8
		c.fail("record length", "says %d bytes, record has %d", total, len(c.b))
	}
}

// sealRepresentation writes a representation's length into its first four
// bytes, once the rest is appended.
func sealRepresentation(b []byte) ([]byte, error) {
	if uint64(len(b)) > 0xFFFFFFFF {
		return nil, fmt.Errorf("representation too long")
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b, nil
}
