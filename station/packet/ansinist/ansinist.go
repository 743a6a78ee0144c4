// Package ansinist reads and writes ANSI/NIST-ITL 1-2011 transactions in
// the traditional encoding: Type-1 (transaction information), Type-2 (user
// defined descriptive text), Type-10 (facial image) and Type-14 (variable
// resolution fingerprint image) records, and any other tagged record type at
// the field level.
//
// A record is a sequence of tagged fields "T.NNN:value". Fields are ended by
// GS, the record by FS; subfields are split by RS and information items by
// US (ANSI/NIST-ITL 1-2011 §7.1, Table 1). Field 001 (LEN) is the byte
// length of the whole record including its own digits and the final FS; it
// is computed here on write and checked on read. The binary image field 999
// (DATA) is always the last field of its record and may contain any byte, so
// a record's extent is known only from LEN.
package ansinist

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Separator characters (ANSI/NIST-ITL 1-2011 §7.1, Table 1: FS, GS, RS, US).
const (
	FS = 0x1C // ends a record
	GS = 0x1D // ends a field
	RS = 0x1E // separates subfields (repeats) of a field
	US = 0x1F // separates information items within a subfield
)

// FieldData is the number of the binary image data field (DATA), which must
// be the last field of a record (ANSI/NIST-ITL 1-2011 §7.2.1).
const FieldData = 999

// Limits that keep the parser's work bounded for hostile input.
const (
	maxRecords   = 1000 // far above any enrollment (Type-1 + 2 + 10 + 10×14)
	maxFields    = 1000 // field numbers run 1..999
	maxLenDigits = 10   // LEN of a record fits in 10 digits (< 10 GB)
)

// Field is one tagged field. Value holds the bytes between the colon and
// the terminating separator: text with RS/US inside for structured fields,
// or raw bytes for field 999.
type Field struct {
	Num   int
	Value []byte
	// Offset is where Value starts in the parsed transaction (0 for fields
	// built in memory). It lets callers report where a bad value is.
	Offset int
}

// Text returns the value as a string.
func (f Field) Text() string { return string(f.Value) }

// Subfields splits the value into subfields (RS) and information items (US).
func (f Field) Subfields() [][]string {
	if len(f.Value) == 0 {
		return nil
	}
	var out [][]string
	for _, sf := range bytes.Split(f.Value, []byte{RS}) {
		var items []string
		for _, it := range bytes.Split(sf, []byte{US}) {
			items = append(items, string(it))
		}
		out = append(out, items)
	}
	return out
}

// Record is one logical record. Fields holds every field except LEN (001),
// which is derived on encode and verified on parse.
type Record struct {
	Type   int
	Fields []Field
	// Offset is where the record starts in the parsed transaction.
	Offset int
}

// Field returns field num and whether it is present.
func (r *Record) Field(num int) (Field, bool) {
	for _, f := range r.Fields {
		if f.Num == num {
			return f, true
		}
	}
	return Field{}, false
}

// Set sets field num to a text value, replacing any earlier value.
func (r *Record) Set(num int, value string) { r.SetBytes(num, []byte(value)) }

// SetBytes sets field num to raw bytes, replacing any earlier value.
func (r *Record) SetBytes(num int, value []byte) {
	for i := range r.Fields {
		if r.Fields[i].Num == num {
			r.Fields[i].Value = value
			return
		}
	}
	r.Fields = append(r.Fields, Field{Num: num, Value: value})
}

// SetItems sets field num from subfields of information items, joining them
// with RS and US.
func (r *Record) SetItems(num int, subfields ...[]string) {
	var b strings.Builder
	for i, sf := range subfields {
		if i > 0 {
			b.WriteByte(RS)
		}
		for j, it := range sf {
			if j > 0 {
				b.WriteByte(US)
			}
			b.WriteString(it)
		}
	}
	r.Set(num, b.String())
}

// Transaction is a whole ANSI/NIST-ITL file: a Type-1 record first, then the
// records its CNT field lists, in that order.
type Transaction struct {
	Records []*Record
}

// ParseError says what is wrong with encoded bytes and where.
type ParseError struct {
	Record int // index of the record in the transaction (0 = Type-1), -1 if unknown
	Type   int // record type, 0 if unknown
	Field  int // field number, 0 if not within a field
	Offset int // byte offset in the input
	Msg    string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("ansinist: ")
	if e.Record >= 0 {
		fmt.Fprintf(&b, "record %d", e.Record)
		if e.Type > 0 {
			fmt.Fprintf(&b, " (Type-%d)", e.Type)
		}
		b.WriteString(" ")
	}
	if e.Field > 0 && e.Type > 0 {
		fmt.Fprintf(&b, "field %d.%03d ", e.Type, e.Field)
	}
	fmt.Fprintf(&b, "at offset %d: %s", e.Offset, e.Msg)
	return b.String()
}

// isTagged reports whether records of type t use tagged fields. The binary
// record types 3-8 (ANSI/NIST-ITL 1-2011 §8, Table 3) are not supported.
func isTagged(t int) bool {
	return t == 1 || t == 2 || (t >= 9 && t <= 99)
}

// Encode writes the transaction in traditional encoding. It fills the
// Type-1 CNT field (1.003) from the records present (§8.1.3) and each
// record's LEN, so what is written is always self-consistent.
func (t *Transaction) Encode() ([]byte, error) {
	if len(t.Records) == 0 || t.Records[0].Type != 1 {
		return nil, fmt.Errorf("ansinist: encode: the first record must be Type-1")
	}
	if len(t.Records) > maxRecords {
		return nil, fmt.Errorf("ansinist: encode: %d records exceed the limit of %d", len(t.Records), maxRecords)
	}
	// CNT: first subfield "1<US>number of other records", then one subfield
	// "type<US>IDC" per record (ANSI/NIST-ITL 1-2011 §8.1.3).
	cnt := [][]string{{"1", strconv.Itoa(len(t.Records) - 1)}}
	for i, r := range t.Records[1:] {
		if r.Type == 1 {
			return nil, fmt.Errorf("ansinist: encode: record %d: only the first record may be Type-1", i+1)
		}
		idc, ok := r.Field(2)
		if !ok {
			return nil, fmt.Errorf("ansinist: encode: record %d (Type-%d): field %d.002 IDC missing", i+1, r.Type, r.Type)
		}
		cnt = append(cnt, []string{strconv.Itoa(r.Type), idc.Text()})
	}
	t.Records[0].SetItems(3, cnt...)
	var out []byte
	for i, r := range t.Records {
		b, err := r.encode()
		if err != nil {
			return nil, fmt.Errorf("ansinist: encode: record %d: %w", i, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// encode writes one record with its LEN.
func (r *Record) encode() ([]byte, error) {
	if !isTagged(r.Type) {
		return nil, fmt.Errorf("Type-%d is not a tagged record type", r.Type)
	}
	fields := slices.Clone(r.Fields)
	slices.SortStableFunc(fields, func(a, b Field) int { return a.Num - b.Num })
	for i, f := range fields {
		if f.Num < 2 || f.Num > FieldData {
			return nil, fmt.Errorf("field %d.%03d: field number out of range 2..999 (LEN is computed)", r.Type, f.Num)
		}
		if i > 0 && fields[i-1].Num == f.Num {
			return nil, fmt.Errorf("field %d.%03d appears twice", r.Type, f.Num)
		}
		if f.Num != FieldData && bytes.ContainsAny(f.Value, string([]byte{FS, GS})) {
			return nil, fmt.Errorf("field %d.%03d: text value contains a FS or GS separator byte", r.Type, f.Num)
		}
		if len(f.Value) == 0 {
			return nil, fmt.Errorf("field %d.%03d: empty value (omit the field instead)", r.Type, f.Num)
		}
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("Type-%d record has no fields", r.Type)
	}
	var body bytes.Buffer
	for i, f := range fields {
		fmt.Fprintf(&body, "%d.%03d:", r.Type, f.Num)
		body.Write(f.Value)
		if i == len(fields)-1 {
			body.WriteByte(FS)
		} else {
			body.WriteByte(GS)
		}
	}
	// LEN counts itself: tag + digits + GS + body. Iterate until the digit
	// count is stable (at most twice in practice).
	tag := fmt.Sprintf("%d.001:", r.Type)
	digits := 1
	var total int
	for {
		total = len(tag) + digits + 1 + body.Len()
		if d := len(strconv.Itoa(total)); d != digits {
			digits = d
			continue
		}
		break
	}
	out := make([]byte, 0, total)
	out = append(out, tag...)
	out = strconv.AppendInt(out, int64(total), 10)
	out = append(out, GS)
	out = append(out, body.Bytes()...)
	if len(out) != total {
		return nil, fmt.Errorf("internal error: LEN %d but wrote %d bytes", total, len(out))
	}
	return out, nil
}

// Parse reads a traditional-encoding transaction. It checks every record's
// LEN against the bytes present, that the records follow the Type-1 CNT
// list in order with matching IDCs, that field 999 is last, that no field
// repeats, and that nothing follows the last record.
func Parse(b []byte) (*Transaction, error) {
	t := &Transaction{}
	pos := 0
	var cnt [][2]int // type, IDC of each record after Type-1
	for idx := 0; pos < len(b); idx++ {
		if idx >= maxRecords {
			return nil, &ParseError{Record: idx, Offset: pos, Msg: fmt.Sprintf("more than %d records", maxRecords)}
		}
		r, next, err := parseRecord(b, pos, idx)
		if err != nil {
			return nil, err
		}
		if idx == 0 {
			if r.Type != 1 {
				return nil, &ParseError{Record: 0, Type: r.Type, Offset: pos, Msg: "the first record must be Type-1"}
			}
			cnt, err = parseCNT(r)
			if err != nil {
				return nil, err
			}
		} else {
			if idx > len(cnt) {
				return nil, &ParseError{Record: idx, Type: r.Type, Offset: pos,
					Msg: fmt.Sprintf("record not listed in CNT (1.003 lists %d records)", len(cnt))}
			}
			want := cnt[idx-1]
			if r.Type != want[0] {
				return nil, &ParseError{Record: idx, Type: r.Type, Offset: pos,
					Msg: fmt.Sprintf("CNT (1.003) says this record is Type-%d", want[0])}
			}
			f, ok := r.Field(2)
			if !ok {
				return nil, &ParseError{Record: idx, Type: r.Type, Field: 2, Offset: pos, Msg: "IDC missing"}
			}
			idc, err := strconv.Atoi(f.Text())
			if err != nil || idc != want[1] || !isDigits(f.Text()) || len(f.Value) > 2 {
				return nil, &ParseError{Record: idx, Type: r.Type, Field: 2, Offset: f.Offset,
					Msg: fmt.Sprintf("IDC %q does not match CNT (1.003) entry %d", f.Text(), want[1])}
			}
		}
		t.Records = append(t.Records, r)
		pos = next
	}
	if len(t.Records) == 0 {
		return nil, &ParseError{Record: -1, Offset: 0, Msg: "empty input"}
	}
	if len(t.Records)-1 != len(cnt) {
		return nil, &ParseError{Record: len(t.Records), Offset: len(b),
			Msg: fmt.Sprintf("input ends after %d records but CNT (1.003) lists %d", len(t.Records)-1, len(cnt))}
	}
	return t, nil
}

// parseCNT reads the Type-1 content field.
func parseCNT(r *Record) ([][2]int, error) {
	f, ok := r.Field(3)
	if !ok {
		return nil, &ParseError{Record: 0, Type: 1, Field: 3, Offset: r.Offset, Msg: "CNT missing"}
	}
	sfs := f.Subfields()
	bad := func(msg string) error {
		return &ParseError{Record: 0, Type: 1, Field: 3, Offset: f.Offset, Msg: msg}
	}
	if len(sfs) == 0 || len(sfs[0]) != 2 || sfs[0][0] != "1" {
		return nil, bad(`first subfield must be "1<US>count"`)
	}
	n, err := strconv.Atoi(sfs[0][1])
	if err != nil || n < 0 || n != len(sfs)-1 {
		return nil, bad(fmt.Sprintf("record count %q does not match the %d record entries", sfs[0][1], len(sfs)-1))
	}
	out := make([][2]int, 0, n)
	for i, sf := range sfs[1:] {
		if len(sf) != 2 {
			return nil, bad(fmt.Sprintf("entry %d: want type<US>IDC", i+1))
		}
		typ, err1 := strconv.Atoi(sf[0])
		idc, err2 := strconv.Atoi(sf[1])
		if err1 != nil || err2 != nil || !isDigits(sf[0]) || !isDigits(sf[1]) || !isTagged(typ) || typ == 1 || idc < 0 || idc > 99 {
			return nil, bad(fmt.Sprintf("entry %d: %q/%q is not a supported record type and IDC 0..99", i+1, sf[0], sf[1]))
		}
		out = append(out, [2]int{typ, idc})
	}
	return out, nil
}

// parseTag reads "T.NNN:" at pos and returns type, field number and the
// position after the colon.
func parseTag(b []byte, pos, end int) (typ, num, next int, ok bool) {
	i := pos
	start := i
	for i < end && i-start < 3 && b[i] >= '0' && b[i] <= '9' {
		typ = typ*10 + int(b[i]-'0')
		i++
	}
	if i == start || i >= end || b[i] != '.' {
		return 0, 0, 0, false
	}
	i++
	start = i
	for i < end && i-start < 9 && b[i] >= '0' && b[i] <= '9' {
		num = num*10 + int(b[i]-'0')
		i++
	}
	if i-start < 3 || i >= end || b[i] != ':' {
		return 0, 0, 0, false
	}
	return typ, num, i + 1, true
}

func parseRecord(b []byte, pos, idx int) (*Record, int, error) {
	perr := func(typ, field, off int, format string, args ...any) error {
		return &ParseError{Record: idx, Type: typ, Field: field, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	typ, num, p, ok := parseTag(b, pos, len(b))
	if !ok {
		return nil, 0, perr(0, 0, pos, "expected a field tag T.001: for LEN")
	}
	if num != 1 {
		return nil, 0, perr(typ, num, pos, "first field of a record must be LEN (field 001)")
	}
	if !isTagged(typ) {
		return nil, 0, perr(typ, 0, pos, "record type %d is not a supported tagged type", typ)
	}
	start := p
	for p < len(b) && p-start <= maxLenDigits && b[p] >= '0' && b[p] <= '9' {
		p++
	}
	if p == start || p-start > maxLenDigits || p >= len(b) || b[p] != GS {
		return nil, 0, perr(typ, 1, start, "LEN must be digits followed by GS")
	}
	length, err := strconv.Atoi(string(b[start:p]))
	if err != nil || length <= 0 {
		return nil, 0, perr(typ, 1, start, "LEN %q is not a positive number", b[start:p])
	}
	end := pos + length // one past the record's FS
	if length > len(b)-pos {
		return nil, 0, perr(typ, 1, start, "LEN %d runs past the end of the input (%d bytes left)", length, len(b)-pos)
	}
	if end <= p || b[end-1] != FS {
		return nil, 0, perr(typ, 1, start, "LEN %d does not end on a FS separator", length)
	}
	r := &Record{Type: typ, Offset: pos}
	p++             // skip GS after LEN
	last := end - 1 // position of the record's FS
	seen := map[int]bool{1: true}
	for p < last {
		if len(r.Fields) >= maxFields {
			return nil, 0, perr(typ, 0, p, "more than %d fields", maxFields)
		}
		ft, fn, vstart, ok := parseTag(b, p, last)
		if !ok {
			return nil, 0, perr(typ, 0, p, "expected a field tag %d.NNN:", typ)
		}
		if ft != typ {
			return nil, 0, perr(typ, fn, p, "field tag says Type-%d inside a Type-%d record", ft, typ)
		}
		if fn < 1 || fn > FieldData {
			return nil, 0, perr(typ, 0, p, "field number %d out of range 1..999", fn)
		}
		if seen[fn] {
			return nil, 0, perr(typ, fn, p, "field appears twice")
		}
		seen[fn] = true
		var vend int
		if fn == FieldData {
			// Binary data runs to the record's FS; it must be last (§7.2.1).
			vend = last
		} else {
			vend = vstart
			for vend < last && b[vend] != GS && b[vend] != FS {
				vend++
			}
			if vend < last && b[vend] == FS {
				return nil, 0, perr(typ, fn, vend, "FS separator inside the record before LEN's end")
			}
		}
		if vend == vstart {
			return nil, 0, perr(typ, fn, vstart, "empty field value")
		}
		r.Fields = append(r.Fields, Field{Num: fn, Value: b[vstart:vend:vend], Offset: vstart})
		p = vend
		if p < last {
			p++ // skip GS
			if p == last {
				return nil, 0, perr(typ, fn, p, "GS right before the record's FS (empty field)")
			}
		}
	}
	if typ != 1 && !seen[2] {
		return nil, 0, perr(typ, 2, pos, "IDC (field 002) missing")
	}
	return r, end, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
