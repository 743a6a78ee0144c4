package ansinist

import (
	"fmt"
	"image"
	"strconv"
	"strings"
	"time"
)

// Compression algorithm codes for CGA fields 10.011 and 14.011
// (ANSI/NIST-ITL 1-2011 Table 15).
const (
	CompressionNone  = "NONE"
	CompressionWSQ   = "WSQ20"
	CompressionJPEGB = "JPEGB"
	CompressionJPEGL = "JPEGL"
	CompressionJP2   = "JP2"
	CompressionJP2L  = "JP2L"
	CompressionPNG   = "PNG"
)

// Scale units for SLC (§8.10.8 / §8.14.8): 1 = pixels per inch.
const ScalePPI = 1

// Friction ridge impression types for 14.003 IMP (ANSI/NIST-ITL 1-2011
// Table 7): 0 plain contact, 1 rolled contact.
const (
	ImpressionPlain  = 0
	ImpressionRolled = 1
)

// Amputation codes for 14.018 AMP (§8.14.12): XX amputated, UP unable to
// print (e.g. bandaged).
const (
	AmputationAmputated = "XX"
	AmputationUnable    = "UP"
)

// Quality value sentinels for NQM/FQM (§8.14.19, §8.14.21).
const (
	QualityNotComputed = 254
	QualityFailed      = 255
)

// FieldError is a record-level problem with a field: present but wrong,
// or missing when the record type requires it.
type FieldError struct {
	Record int // index in the transaction, -1 if standalone
	Type   int
	Field  int
	Offset int // offset of the value in the input, 0 if built in memory
	Msg    string
}

func (e *FieldError) Error() string {
	if e.Field == 0 {
		return fmt.Sprintf("ansinist: record %d (Type-%d) at offset %d: %s", e.Record, e.Type, e.Offset, e.Msg)
	}
	return fmt.Sprintf("ansinist: record %d (Type-%d) field %d.%03d at offset %d: %s",
		e.Record, e.Type, e.Type, e.Field, e.Offset, e.Msg)
}

type reader struct {
	r   *Record
	idx int
	err error
}

func (rd *reader) fail(num int, off int, format string, args ...any) {
	if rd.err == nil {
		rd.err = &FieldError{Record: rd.idx, Type: rd.r.Type, Field: num, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
}

// data returns the record's image data (field 999), which image records
// must have.
func (rd *reader) data() []byte {
	if f, ok := rd.r.Field(FieldData); ok {
		return f.Value
	}
	rd.fail(FieldData, rd.r.Offset, "mandatory image data missing")
	return nil
}

// done returns the first field error, or the record-level validation's
// error located at the record.
func (rd *reader) done(validate func() error) error {
	if rd.err != nil {
		return rd.err
	}
	if err := validate(); err != nil {
		return &FieldError{Record: rd.idx, Type: rd.r.Type, Offset: rd.r.Offset, Msg: err.Error()}
	}
	return nil
}

func (rd *reader) text(num int, required bool) string {
	f, ok := rd.r.Field(num)
	if !ok {
		if required {
			rd.fail(num, rd.r.Offset, "mandatory field missing")
		}
		return ""
	}
	return f.Text()
}

func (rd *reader) int(num int, required bool, lo, hi int) int {
	f, ok := rd.r.Field(num)
	if !ok {
		if required {
			rd.fail(num, rd.r.Offset, "mandatory field missing")
		}
		return 0
	}
	v, err := strconv.Atoi(f.Text())
	if err != nil || !isDigits(f.Text()) || v < lo || v > hi {
		rd.fail(num, f.Offset, "value %q is not a number in %d..%d", clip(f.Text()), lo, hi)
		return 0
	}
	return v
}

func (rd *reader) date(num int, required bool) time.Time {
	f, ok := rd.r.Field(num)
	if !ok {
		if required {
			rd.fail(num, rd.r.Offset, "mandatory field missing")
		}
		return time.Time{}
	}
	d, err := time.Parse("20060102", f.Text())
	if err != nil {
		rd.fail(num, f.Offset, "date %q is not YYYYMMDD", clip(f.Text()))
	}
	return d
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// checkText rejects values that would break the encoding or are empty.
func checkText(typ, num int, s string) error {
	if s == "" {
		return fmt.Errorf("field %d.%03d: empty value", typ, num)
	}
	if strings.ContainsAny(s, "\x1c\x1d\x1e\x1f") {
		return fmt.Errorf("field %d.%03d: value contains a separator character", typ, num)
	}
	return nil
}

// Type1 is the transaction information record (ANSI/NIST-ITL 1-2011 §8.1).
type Type1 struct {
	Version string    // 1.002 VER, "0400" for the 2011 edition
	TOT     string    // 1.004 type of transaction
	Date    time.Time // 1.005 DAT (date part used)
	DAI     string    // 1.007 destination agency identifier
	ORI     string    // 1.008 originating agency identifier
	TCN     string    // 1.009 transaction control number
	// NSR/NTR (1.011, 1.012) are in pixels per millimetre with two decimals
	// ("19.69" for 500 ppi), §8.1.11-12.
	NSR string
	NTR string
	GMT time.Time // 1.014 Greenwich mean time, optional
	// Content is the parsed CNT (1.003): type and IDC of each other record.
	// It is filled by Parse; Encode derives CNT from the records present.
	Content [][2]int
}

// Version2011 is the VER value of ANSI/NIST-ITL 1-2011 (§8.1.2).
const Version2011 = "0400"

// PPMM formats a resolution given in pixels per inch as the pixels per
// millimetre string NSR/NTR expect (1 inch = 25.4 mm).
func PPMM(ppi int) string { return fmt.Sprintf("%05.2f", float64(ppi)/25.4) }

// Record builds the Type-1 record.
func (h Type1) Record() (*Record, error) {
	r := &Record{Type: 1}
	set := func(num int, v string) error {
		if err := checkText(1, num, v); err != nil {
			return err
		}
		r.Set(num, v)
		return nil
	}
	ver := h.Version
	if ver == "" {
		ver = Version2011
	}
	for _, kv := range []struct {
		n int
		v string
	}{{2, ver}, {4, h.TOT}, {5, h.Date.Format("20060102")}, {7, h.DAI}, {8, h.ORI}, {9, h.TCN}, {11, h.NSR}, {12, h.NTR}} {
		if err := set(kv.n, kv.v); err != nil {
			return nil, err
		}
	}
	r.Set(3, "1\x1f0") // placeholder; Transaction.Encode fills CNT
	if !h.GMT.IsZero() {
		r.Set(14, h.GMT.UTC().Format("20060102150405")+"Z")
	}
	return r, nil
}

// ParseType1 reads a Type-1 record.
func ParseType1(r *Record) (Type1, error) {
	rd := &reader{r: r, idx: 0}
	var h Type1
	h.Version = rd.text(2, true)
	if rd.err == nil && h.Version != Version2011 {
		f, _ := r.Field(2)
		rd.fail(2, f.Offset, "version %q is not %s (ANSI/NIST-ITL 1-2011)", clip(h.Version), Version2011)
	}
	h.TOT = rd.text(4, true)
	h.Date = rd.date(5, true)
	h.DAI = rd.text(7, true)
	h.ORI = rd.text(8, true)
	h.TCN = rd.text(9, true)
	h.NSR = rd.text(11, true)
	h.NTR = rd.text(12, true)
	for _, n := range []int{11, 12} {
		if f, ok := r.Field(n); ok {
			if _, err := strconv.ParseFloat(f.Text(), 64); err != nil || len(f.Text()) != 5 || f.Text()[2] != '.' {
				rd.fail(n, f.Offset, "resolution %q is not NN.NN pixels per mm", clip(f.Text()))
			}
		}
	}
	if g := rd.text(14, false); g != "" {
		t, err := time.Parse("20060102150405Z", g)
		if err != nil {
			f, _ := r.Field(14)
			rd.fail(14, f.Offset, "GMT %q is not YYYYMMDDhhmmssZ", clip(g))
		}
		h.GMT = t
	}
	if rd.err != nil {
		return Type1{}, rd.err
	}
	cnt, err := parseCNT(r)
	if err != nil {
		return Type1{}, err
	}
	h.Content = cnt
	return h, nil
}

// UserField is one user-defined Type-2 field.
type UserField struct {
	Num   int
	Items [][]string // subfields of information items
}

// Type2 is the user-defined descriptive text record (§8.2). Its fields past
// 002 are defined by the receiving domain; see the packet package for ours.
type Type2 struct {
	IDC    int
	Fields []UserField
}

// Record builds the Type-2 record.
func (t Type2) Record() (*Record, error) {
	r := &Record{Type: 2}
	r.Set(2, strconv.Itoa(t.IDC))
	for _, f := range t.Fields {
		if f.Num < 3 || f.Num > 998 {
			return nil, fmt.Errorf("field 2.%03d: user-defined fields are 2.003..2.998", f.Num)
		}
		if len(f.Items) == 0 {
			return nil, fmt.Errorf("field 2.%03d: no value", f.Num)
		}
		for _, sf := range f.Items {
			for _, it := range sf {
				if strings.ContainsAny(it, "\x1c\x1d\x1e\x1f") {
					return nil, fmt.Errorf("field 2.%03d: value contains a separator character", f.Num)
				}
			}
		}
		r.SetItems(f.Num, f.Items...)
		if v, _ := r.Field(f.Num); len(v.Value) == 0 {
			return nil, fmt.Errorf("field 2.%03d: empty value", f.Num)
		}
	}
	return r, nil
}

// ParseType2 reads a Type-2 record.
func ParseType2(r *Record, idx int) (Type2, error) {
	rd := &reader{r: r, idx: idx}
	t := Type2{IDC: rd.int(2, true, 0, 99)}
	if rd.err != nil {
		return Type2{}, rd.err
	}
	for _, f := range r.Fields {
		if f.Num > 2 {
			t.Fields = append(t.Fields, UserField{Num: f.Num, Items: f.Subfields()})
		}
	}
	return t, nil
}

// Type10 is a facial image record (§8.10).
type Type10 struct {
	IDC  int
	IMT  string    // 10.003 image type, "FACE"
	SRC  string    // 10.004 source agency
	PHD  time.Time // 10.005 photo capture date
	HLL  int       // 10.006 horizontal line length (pixels)
	VLL  int       // 10.007 vertical line length
	SLC  int       // 10.008 scale units (1 = ppi)
	THPS int       // 10.009 transmitted horizontal pixel scale
	TVPS int       // 10.010 transmitted vertical pixel scale
	CGA  string    // 10.011 compression algorithm
	CSP  string    // 10.012 colour space: GRAY, RGB, SRGB, YCC, SYCC
	SAP  int       // 10.013 subject acquisition profile, Table 20
	Data []byte    // 10.999
}

// SAP codes used by the station (ANSI/NIST-ITL 1-2011 Table 20).
const (
	SAPUnknown      = 0
	SAPISOFullFront = 13 // ISO/IEC 19794-5 full frontal
	SAPLevel30      = 30 // best practice application level 30
)

var face CompressionSet = CompressionSet{CompressionNone, CompressionJPEGB, CompressionJPEGL, CompressionJP2, CompressionJP2L, CompressionPNG}
var finger CompressionSet = CompressionSet{CompressionNone, CompressionWSQ, CompressionJPEGB, CompressionJPEGL, CompressionJP2, CompressionJP2L, CompressionPNG}

// CompressionSet is a list of allowed CGA codes.
type CompressionSet []string

func (c CompressionSet) has(s string) bool {
	for _, v := range c {
		if v == s {
			return true
		}
	}
	return false
}

var colourSpaces = CompressionSet{"GRAY", "RGB", "SRGB", "YCC", "SYCC"}

func (t Type10) validate() error {
	switch {
	case t.IDC < 0 || t.IDC > 99:
		return fmt.Errorf("field 10.002: IDC %d out of range 0..99", t.IDC)
	case t.IMT != "FACE":
		return fmt.Errorf("field 10.003: IMT %q, want FACE", t.IMT)
	case t.HLL < 1 || t.HLL > 99999 || t.VLL < 1 || t.VLL > 99999:
		return fmt.Errorf("fields 10.006/10.007: image size %dx%d out of range", t.HLL, t.VLL)
	case t.SLC < 0 || t.SLC > 2:
		return fmt.Errorf("field 10.008: SLC %d out of range 0..2", t.SLC)
	case t.THPS < 1 || t.THPS > 99999 || t.TVPS < 1 || t.TVPS > 99999:
		return fmt.Errorf("fields 10.009/10.010: pixel scale out of range")
	case !face.has(t.CGA):
		return fmt.Errorf("field 10.011: compression %q not allowed for faces", t.CGA)
	case !colourSpaces.has(t.CSP):
		return fmt.Errorf("field 10.012: colour space %q unknown", t.CSP)
	case len(t.Data) == 0:
		return fmt.Errorf("field 10.999: no image data")
	}
	return checkText(10, 4, t.SRC)
}

// Record builds the Type-10 record.
func (t Type10) Record() (*Record, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	r := &Record{Type: 10}
	r.Set(2, strconv.Itoa(t.IDC))
	r.Set(3, t.IMT)
	r.Set(4, t.SRC)
	r.Set(5, t.PHD.Format("20060102"))
	r.Set(6, strconv.Itoa(t.HLL))
	r.Set(7, strconv.Itoa(t.VLL))
	r.Set(8, strconv.Itoa(t.SLC))
	r.Set(9, strconv.Itoa(t.THPS))
	r.Set(10, strconv.Itoa(t.TVPS))
	r.Set(11, t.CGA)
	r.Set(12, t.CSP)
	r.Set(13, strconv.Itoa(t.SAP))
	r.SetBytes(FieldData, t.Data)
	return r, nil
}

// ParseType10 reads a Type-10 record; idx is its position for errors.
func ParseType10(r *Record, idx int) (Type10, error) {
	rd := &reader{r: r, idx: idx}
	t := Type10{
		IDC:  rd.int(2, true, 0, 99),
		IMT:  rd.text(3, true),
		SRC:  rd.text(4, true),
		PHD:  rd.date(5, true),
		HLL:  rd.int(6, true, 1, 99999),
		VLL:  rd.int(7, true, 1, 99999),
		SLC:  rd.int(8, true, 0, 2),
		THPS: rd.int(9, true, 1, 99999),
		TVPS: rd.int(10, true, 1, 99999),
		CGA:  rd.text(11, true),
		CSP:  rd.text(12, true),
		SAP:  rd.int(13, true, 0, 99),
	}
	t.Data = rd.data()
	if err := rd.done(t.validate); err != nil {
		return Type10{}, err
	}
	return t, nil
}

// Amputation is one AMP (14.018) subfield.
type Amputation struct {
	FGP  int
	Code string // AmputationAmputated or AmputationUnable
}

// QualityMetric is one FQM (14.024) subfield: a quality value 0-100 (or
// 254/255) from the algorithm identified by vendor and product (§8.14.21).
type QualityMetric struct {
	FGP         int
	Score       int
	VendorID    uint16 // QAV, written as 4 hex digits
	ProductCode uint16 // QAP
}

// NISTQuality is one NQM (14.022) subfield: an NFIQ value 1-5 or 254/255.
type NISTQuality struct {
	FGP   int
	Score int
}

// Segment is one SEG (14.021) subfield: where one finger lies in a
// multi-finger image (a slap, FGP 13-15), as the pixel columns of its left
// and right edges and the rows of its top and bottom edges, counted from
// the image's top left corner (ANSI/NIST-ITL 1-2011 field 14.021).
type Segment struct {
	FGP                      int
	Left, Right, Top, Bottom int
}

// Outline is one ASEG (14.025) subfield: a finger on a multi-finger image
// as a polygon of 3 to 99 vertices, pixel columns and rows from the
// image's top left corner, for fingers a box fits loosely (field 14.025).
type Outline struct {
	FGP    int
	Points []image.Point
}

// Type14 is a variable-resolution fingerprint image record (§8.14).
type Type14 struct {
	IDC  int
	IMP  int       // 14.003 impression type
	SRC  string    // 14.004 source agency
	FCD  time.Time // 14.005 fingerprint capture date
	HLL  int       // 14.006
	VLL  int       // 14.007
	SLC  int       // 14.008
	THPS int       // 14.009
	TVPS int       // 14.010
	CGA  string    // 14.011
	BPX  int       // 14.012 bits per pixel
	FGP  []int     // 14.013 finger positions (0-10 for single fingers)
	AMP  []Amputation
	SEG  []Segment // 14.021, for multi-finger images
	ASEG []Outline // 14.025, the same as polygons
	NQM  []NISTQuality
	FQM  []QualityMetric
	Data []byte // 14.999
}

func (t Type14) validate() error {
	switch {
	case t.IDC < 0 || t.IDC > 99:
		return fmt.Errorf("field 14.002: IDC %d out of range 0..99", t.IDC)
	case t.IMP < 0 || t.IMP > 99:
		return fmt.Errorf("field 14.003: IMP %d out of range", t.IMP)
	case t.HLL < 1 || t.HLL > 99999 || t.VLL < 1 || t.VLL > 99999:
		return fmt.Errorf("fields 14.006/14.007: image size %dx%d out of range", t.HLL, t.VLL)
	case t.SLC < 0 || t.SLC > 2:
		return fmt.Errorf("field 14.008: SLC %d out of range 0..2", t.SLC)
	case t.THPS < 1 || t.THPS > 99999 || t.TVPS < 1 || t.TVPS > 99999:
		return fmt.Errorf("fields 14.009/14.010: pixel scale out of range")
	case !finger.has(t.CGA):
		return fmt.Errorf("field 14.011: compression %q unknown", t.CGA)
	case t.BPX < 8 || t.BPX > 99:
		return fmt.Errorf("field 14.012: BPX %d out of range 8..99", t.BPX)
	case len(t.FGP) == 0:
		return fmt.Errorf("field 14.013: no finger position")
	case len(t.Data) == 0:
		return fmt.Errorf("field 14.999: no image data")
	}
	for _, p := range t.FGP {
		// 0-10 single fingers, 13-15 plain thumbs/slaps, 40-50 EJI/tips
		// (Table 8); we accept the whole two-digit range but not beyond.
		if p < 0 || p > 99 {
			return fmt.Errorf("field 14.013: finger position %d out of range", p)
		}
	}
	for _, a := range t.AMP {
		if a.Code != AmputationAmputated && a.Code != AmputationUnable {
			return fmt.Errorf("field 14.018: amputation code %q, want XX or UP", a.Code)
		}
	}
	for _, g := range t.SEG {
		switch {
		case g.FGP < 1 || g.FGP > 10:
			return fmt.Errorf("field 14.021: segment of finger position %d, want 1-10", g.FGP)
		case g.Left < 0 || g.Left > g.Right || g.Right >= t.HLL:
			return fmt.Errorf("field 14.021: finger %d columns %d-%d outside the image's 0-%d", g.FGP, g.Left, g.Right, t.HLL-1)
		case g.Top < 0 || g.Top > g.Bottom || g.Bottom >= t.VLL:
			return fmt.Errorf("field 14.021: finger %d rows %d-%d outside the image's 0-%d", g.FGP, g.Top, g.Bottom, t.VLL-1)
		}
	}
	for _, o := range t.ASEG {
		if o.FGP < 1 || o.FGP > 10 {
			return fmt.Errorf("field 14.025: outline of finger position %d, want 1-10", o.FGP)
		}
		if len(o.Points) < 3 || len(o.Points) > 99 {
			return fmt.Errorf("field 14.025: finger %d outline has %d points, want 3-99", o.FGP, len(o.Points))
		}
		for _, p := range o.Points {
			if p.X < 0 || p.X >= t.HLL || p.Y < 0 || p.Y >= t.VLL {
				return fmt.Errorf("field 14.025: finger %d point (%d,%d) outside the %dx%d image", o.FGP, p.X, p.Y, t.HLL, t.VLL)
			}
		}
	}
	for _, q := range t.NQM {
		if !(q.Score >= 1 && q.Score <= 5) && q.Score != QualityNotComputed && q.Score != QualityFailed {
			return fmt.Errorf("field 14.022: NFIQ value %d, want 1-5, 254 or 255", q.Score)
		}
	}
	for _, q := range t.FQM {
		if !(q.Score >= 0 && q.Score <= 100) && q.Score != QualityNotComputed && q.Score != QualityFailed {
			return fmt.Errorf("field 14.024: quality value %d, want 0-100, 254 or 255", q.Score)
		}
		if q.ProductCode == 0 {
			return fmt.Errorf("field 14.024: product code must be 1-65535")
		}
	}
	return checkText(14, 4, t.SRC)
}

// Record builds the Type-14 record.
func (t Type14) Record() (*Record, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	r := &Record{Type: 14}
	r.Set(2, strconv.Itoa(t.IDC))
	r.Set(3, strconv.Itoa(t.IMP))
	r.Set(4, t.SRC)
	r.Set(5, t.FCD.Format("20060102"))
	r.Set(6, strconv.Itoa(t.HLL))
	r.Set(7, strconv.Itoa(t.VLL))
	r.Set(8, strconv.Itoa(t.SLC))
	r.Set(9, strconv.Itoa(t.THPS))
	r.Set(10, strconv.Itoa(t.TVPS))
	r.Set(11, t.CGA)
	r.Set(12, strconv.Itoa(t.BPX))
	var fgp [][]string
	for _, p := range t.FGP {
		fgp = append(fgp, []string{strconv.Itoa(p)})
	}
	r.SetItems(13, fgp...)
	if len(t.AMP) > 0 {
		var sf [][]string
		for _, a := range t.AMP {
			sf = append(sf, []string{strconv.Itoa(a.FGP), a.Code})
		}
		r.SetItems(18, sf...)
	}
	if len(t.SEG) > 0 {
		var sf [][]string
		for _, g := range t.SEG {
			sf = append(sf, []string{strconv.Itoa(g.FGP), strconv.Itoa(g.Left), strconv.Itoa(g.Right),
				strconv.Itoa(g.Top), strconv.Itoa(g.Bottom)})
		}
		r.SetItems(21, sf...)
	}
	if len(t.NQM) > 0 {
		var sf [][]string
		for _, q := range t.NQM {
			sf = append(sf, []string{strconv.Itoa(q.FGP), strconv.Itoa(q.Score)})
		}
		r.SetItems(22, sf...)
	}
	if len(t.ASEG) > 0 {
		var sf [][]string
		for _, o := range t.ASEG {
			items := []string{strconv.Itoa(o.FGP), strconv.Itoa(len(o.Points))}
			for _, p := range o.Points {
				items = append(items, strconv.Itoa(p.X), strconv.Itoa(p.Y))
			}
			sf = append(sf, items)
		}
		r.SetItems(25, sf...)
	}
	if len(t.FQM) > 0 {
		var sf [][]string
		for _, q := range t.FQM {
			sf = append(sf, []string{strconv.Itoa(q.FGP), strconv.Itoa(q.Score),
				fmt.Sprintf("%04X", q.VendorID), strconv.Itoa(int(q.ProductCode))})
		}
		r.SetItems(24, sf...)
	}
	r.SetBytes(FieldData, t.Data)
	return r, nil
}

// ParseType14 reads a Type-14 record; idx is its position for errors.
func ParseType14(r *Record, idx int) (Type14, error) {
	rd := &reader{r: r, idx: idx}
	t := Type14{
		IDC:  rd.int(2, true, 0, 99),
		IMP:  rd.int(3, true, 0, 99),
		SRC:  rd.text(4, true),
		FCD:  rd.date(5, true),
		HLL:  rd.int(6, true, 1, 99999),
		VLL:  rd.int(7, true, 1, 99999),
		SLC:  rd.int(8, true, 0, 2),
		THPS: rd.int(9, true, 1, 99999),
		TVPS: rd.int(10, true, 1, 99999),
		CGA:  rd.text(11, true),
		BPX:  rd.int(12, true, 8, 99),
	}
	items := func(num, n int) [][]string {
		f, ok := r.Field(num)
		if !ok {
			return nil
		}
		sfs := f.Subfields()
		for i, sf := range sfs {
			if len(sf) != n {
				rd.fail(num, f.Offset, "subfield %d has %d information items, want %d", i+1, len(sf), n)
				return nil
			}
		}
		return sfs
	}
	num := func(fnum int, s string, lo, hi int) int {
		v, err := strconv.Atoi(s)
		if err != nil || !isDigits(s) || v < lo || v > hi {
			f, _ := r.Field(fnum)
			rd.fail(fnum, f.Offset, "item %q is not a number in %d..%d", clip(s), lo, hi)
		}
		return v
	}
	if _, ok := r.Field(13); !ok {
		rd.fail(13, r.Offset, "mandatory field missing")
	}
	for _, sf := range items(13, 1) {
		t.FGP = append(t.FGP, num(13, sf[0], 0, 99))
	}
	for _, sf := range items(18, 2) {
		t.AMP = append(t.AMP, Amputation{FGP: num(18, sf[0], 0, 99), Code: sf[1]})
	}
	for _, sf := range items(21, 5) {
		t.SEG = append(t.SEG, Segment{FGP: num(21, sf[0], 0, 99), Left: num(21, sf[1], 0, 99999),
			Right: num(21, sf[2], 0, 99999), Top: num(21, sf[3], 0, 99999), Bottom: num(21, sf[4], 0, 99999)})
	}
	if f, ok := r.Field(25); ok {
		// FGP, NOP, then NOP pairs of column and row.
		for i, sf := range f.Subfields() {
			if len(sf) < 2+2*3 || len(sf)%2 != 0 {
				rd.fail(25, f.Offset, "subfield %d has %d information items, want a finger, a count and 3-99 points", i+1, len(sf))
				break
			}
			o := Outline{FGP: num(25, sf[0], 0, 99)}
			if n := num(25, sf[1], 3, 99); n != (len(sf)-2)/2 {
				rd.fail(25, f.Offset, "subfield %d counts %d points but holds %d", i+1, n, (len(sf)-2)/2)
				break
			}
			for k := 2; k+1 < len(sf); k += 2 {
				o.Points = append(o.Points, image.Pt(num(25, sf[k], 0, 99999), num(25, sf[k+1], 0, 99999)))
			}
			t.ASEG = append(t.ASEG, o)
		}
	}
	for _, sf := range items(22, 2) {
		t.NQM = append(t.NQM, NISTQuality{FGP: num(22, sf[0], 0, 99), Score: num(22, sf[1], 0, 255)})
	}
	for _, sf := range items(24, 4) {
		vid, err := strconv.ParseUint(sf[2], 16, 16)
		if err != nil || len(sf[2]) != 4 {
			f, _ := r.Field(24)
			rd.fail(24, f.Offset, "vendor id %q is not 4 hex digits", clip(sf[2]))
		}
		t.FQM = append(t.FQM, QualityMetric{FGP: num(24, sf[0], 0, 99), Score: num(24, sf[1], 0, 255),
			VendorID: uint16(vid), ProductCode: uint16(num(24, sf[3], 1, 65535))})
	}
	t.Data = rd.data()
	if err := rd.done(t.validate); err != nil {
		return Type14{}, err
	}
	return t, nil
}

// Decoded is a parsed transaction with its records interpreted.
type Decoded struct {
	Type1  Type1
	Type2  []Type2
	Type10 []Type10
	Type14 []Type14
	// Raw is the field-level transaction, including any record types not
	// interpreted above.
	Raw *Transaction
}

// Decode parses b and interprets its Type-1, -2, -10 and -14 records,
// checking each against the rules of its type.
func Decode(b []byte) (*Decoded, error) {
	t, err := Parse(b)
	if err != nil {
		return nil, err
	}
	d := &Decoded{Raw: t}
	if d.Type1, err = ParseType1(t.Records[0]); err != nil {
		return nil, err
	}
	for i, r := range t.Records[1:] {
		idx := i + 1
		switch r.Type {
		case 2:
			v, err := ParseType2(r, idx)
			if err != nil {
				return nil, err
			}
			d.Type2 = append(d.Type2, v)
		case 10:
			v, err := ParseType10(r, idx)
			if err != nil {
				return nil, err
			}
			d.Type10 = append(d.Type10, v)
		case 14:
			v, err := ParseType14(r, idx)
			if err != nil {
				return nil, err
			}
			d.Type14 = append(d.Type14, v)
		}
	}
	return d, nil
}
