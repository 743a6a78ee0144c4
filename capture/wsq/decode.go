package wsq

import (
	"errors"
	"fmt"
	"image"
	"strconv"
	"strings"
)

// FormatError reports a WSQ stream that this decoder cannot read: what is
// wrong and at which byte offset. Re-capturing or re-exporting the print
// from its source is the usual remedy.
type FormatError struct {
	Offset int
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("wsq: invalid data at byte %d: %s", e.Offset, e.Msg)
}

// Config is what the headers of a WSQ stream say about the image.
type Config struct {
	Width, Height int
	// PPI is the resolution from the NISTCOM comment, 0 when absent or
	// unknown.
	PPI int
}

// Decode decompresses a WSQ stream and returns the image and its
// resolution in pixels per inch (0 if the stream does not say).
func Decode(data []byte) (*image.Gray, int, error) {
	d := &decoder{data: data}
	if err := d.parse(false); err != nil {
		return nil, 0, err
	}
	img, err := d.reconstruct()
	if err != nil {
		return nil, 0, err
	}
	return img, d.ppi, nil
}

// DecodeConfig reads the headers up to the first block of data and
// returns the image size and resolution without decoding the image.
func DecodeConfig(data []byte) (Config, error) {
	d := &decoder{data: data}
	if err := d.parse(true); err != nil {
		return Config{}, err
	}
	return Config{Width: d.frame.width, Height: d.frame.height, PPI: d.ppi}, nil
}

type frameHeader struct {
	width, height int
	shift, scale  float32
}

type quantTable struct {
	c    float32
	q, z [totalSubbands]float32
}

type decoder struct {
	data   []byte
	pos    int
	fb     *filterBank
	even   *evenBank
	dqt    *quantTable
	tables [maxTables]*huffDecoder
	frame  *frameHeader
	ppi    int

	// Coefficient stream, kept sparse: positions and values of the
	// nonzero coefficients, in stream order. Each nonzero costs at least
	// one bit of input, so these grow with the input, not the header.
	started bool
	geom    *geometry
	total   int // coefficients the frame's coded subbands hold
	n       int // coefficients decoded so far
	nzPos   []int32
	nzVal   []int32
}

func (d *decoder) errf(off int, format string, args ...any) error {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// readMarker reads the next two-byte marker, skipping 0xFF fill bytes.
func (d *decoder) readMarker() (int, error) {
	for d.pos+2 <= len(d.data) && d.data[d.pos] == 0xFF && d.data[d.pos+1] == 0xFF {
		d.pos++
	}
	if d.pos+2 > len(d.data) {
		return 0, d.errf(d.pos, "stream ends where a marker should be (truncated file?)")
	}
	m := int(d.data[d.pos])<<8 | int(d.data[d.pos+1])
	if d.data[d.pos] != 0xFF {
		return 0, d.errf(d.pos, "expected a marker (0xFF..), found %04X", m)
	}
	d.pos += 2
	return m, nil
}

// segment returns the body of a marker segment whose 2-byte length
// (counting itself) follows the marker.
func (d *decoder) segment(name string) ([]byte, int, error) {
	start := d.pos
	if d.pos+2 > len(d.data) {
		return nil, start, d.errf(start, "%s segment: length field cut off", name)
	}
	n := int(d.data[d.pos])<<8 | int(d.data[d.pos+1])
	if n < 2 {
		return nil, start, d.errf(start, "%s segment: length %d is less than the length field itself", name, n)
	}
	if d.pos+n > len(d.data) {
		return nil, start, d.errf(start, "%s segment: length %d runs past the end of the stream (%d bytes left)", name, n, len(d.data)-d.pos)
	}
	body := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return body, start + 2, nil
}

func u16(b []byte) int { return int(b[0])<<8 | int(b[1]) }

func scaledAt(b []byte) scaled { return scaled{e: b[0], n: uint32(u16(b[1:]))} }

// parse walks the marker segments. With headerOnly it stops at the first
// block once the frame header is known.
func (d *decoder) parse(headerOnly bool) error {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != 0xA0 {
		return d.errf(0, "not a WSQ stream: it does not start with the SOI marker FFA0")
	}
	d.pos = 2
	m, err := d.readMarker()
	if err != nil {
		return err
	}
	for {
		at := d.pos - 2
		switch m {
		case markerDTT:
			err = d.parseDTT()
		case markerDQT:
			err = d.parseDQT()
		case markerDHT:
			err = d.parseDHT()
		case markerCOM:
			err = d.parseCOM()
		case markerDRT:
			var body []byte
			body, _, err = d.segment("DRT")
			if err == nil && len(body) != 2 {
				err = d.errf(at, "DRT segment has %d bytes, want 2", len(body))
			}
		case markerSOF:
			err = d.parseSOF()
		case markerSOB:
			if d.frame == nil {
				return d.errf(at, "block (SOB) before the frame header (SOF)")
			}
			if headerOnly {
				return nil
			}
			if m, err = d.block(); err != nil {
				return err
			}
			continue
		case markerEOI:
			return d.finish(at, headerOnly)
		default:
			return d.errf(at, "unexpected marker %04X", m)
		}
		if err != nil {
			return err
		}
		if m, err = d.readMarker(); err != nil {
			return err
		}
	}
}

func (d *decoder) finish(at int, headerOnly bool) error {
	if d.frame == nil {
		return d.errf(at, "end of image (EOI) without a frame header (SOF)")
	}
	if headerOnly {
		return nil
	}
	if !d.started {
		if err := d.start(at); err != nil {
			return err
		}
	}
	if d.n != d.total {
		return d.errf(at, "image data ends after %d of the %d coefficients the frame holds", d.n, d.total)
	}
	if d.fb == nil && d.even == nil {
		return d.errf(at, "no transform table (DTT) in the stream")
	}
	return nil
}

// parseDTT reads the analysis filters (spec §B.2.3).
func (d *decoder) parseDTT() error {
	body, off, err := d.segment("DTT")
	if err != nil {
		return err
	}
	if len(body) < 2 {
		return d.errf(off, "DTT segment too short")
	}
	l0, l1 := int(body[0]), int(body[1])
	if l0%2 != l1%2 || l0 == 0 || l1 == 0 {
		return d.errf(off, "DTT defines filters of %d and %d taps; both must be odd (whole-sample symmetric) or both even (half-sample symmetric)", l0, l1)
	}
	odd := l0%2 == 1
	n0, n1 := (l0+1)/2, (l1+1)/2
	if len(body) != 2+6*(n0+n1) {
		return d.errf(off, "DTT segment has %d bytes, want %d for filters of %d and %d taps", len(body), 2+6*(n0+n1), l0, l1)
	}
	coef := make([]float64, n0+n1)
	for i := range coef {
		b := body[2+6*i:]
		v := scaled{e: b[1], n: uint32(b[2])<<24 | uint32(b[3])<<16 | uint32(b[4])<<8 | uint32(b[5])}.value()
		if b[0] != 0 {
			v = -v
		}
		coef[i] = v
	}
	if !odd {
		eb, err := newEvenBank(coef[:n0], coef[n0:])
		if err != nil {
			return d.errf(off, "DTT: %v", err)
		}
		d.fb, d.even = nil, eb
		return nil
	}
	fb, err := newFilterBank(coef[:n0], coef[n0:])
	if err != nil {
		return d.errf(off, "DTT: %v", err)
	}
	d.fb, d.even = fb, nil
	return nil
}

// parseDQT reads the quantization table (spec §B.2.4).
func (d *decoder) parseDQT() error {
	body, off, err := d.segment("DQT")
	if err != nil {
		return err
	}
	if len(body) != 3+6*totalSubbands {
		return d.errf(off, "DQT segment has %d bytes, want %d", len(body), 3+6*totalSubbands)
	}
	if d.started {
		return d.errf(off, "DQT redefined after image data began")
	}
	t := &quantTable{c: float32(scaledAt(body).value())}
	for k := 0; k < totalSubbands; k++ {
		b := body[3+6*k:]
		t.q[k] = float32(scaledAt(b).value())
		t.z[k] = float32(scaledAt(b[3:]).value())
	}
	d.dqt = t
	return nil
}

// parseDHT reads one or more Huffman tables (spec §B.2.5).
func (d *decoder) parseDHT() error {
	body, off, err := d.segment("DHT")
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return d.errf(off, "empty DHT segment")
	}
	for i := 0; i < len(body); {
		if len(body)-i < 1+maxCodeLen {
			return d.errf(off+i, "DHT table header cut off")
		}
		id := int(body[i])
		if id >= maxTables {
			return d.errf(off+i, "Huffman table id %d; at most %d tables (0-%d)", id, maxTables, maxTables-1)
		}
		var hs huffSpec
		total := 0
		for l := 1; l <= maxCodeLen; l++ {
			hs.counts[l] = int(body[i+l])
			total += hs.counts[l]
		}
		i += 1 + maxCodeLen
		if total > 256 || total > len(body)-i {
			return d.errf(off+i, "Huffman table %d lists %d values; %d bytes remain in the segment", id, total, len(body)-i)
		}
		hs.values = body[i : i+total]
		i += total
		hd, err := newHuffDecoder(&hs)
		if err != nil {
			return d.errf(off, "Huffman table %d: %v", id, err)
		}
		d.tables[id] = hd
	}
	return nil
}

// parseCOM reads a comment; a NISTCOM block may carry the resolution.
func (d *decoder) parseCOM() error {
	body, _, err := d.segment("COM")
	if err != nil {
		return err
	}
	if ppi, ok := nistcomPPI(string(body)); ok {
		d.ppi = ppi
	}
	return nil
}

// nistcomPPI finds the PPI attribute of a NISTCOM comment.
func nistcomPPI(text string) (int, bool) {
	if !strings.HasPrefix(text, "NIST_COM") {
		return 0, false
	}
	for _, line := range strings.Split(text, "\n") {
		name, val, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || name != "PPI" {
			continue
		}
		ppi, err := strconv.Atoi(strings.TrimSpace(strings.TrimRight(val, "\x00")))
		if err != nil || ppi <= 0 {
			return 0, true
		}
		return ppi, true
	}
	return 0, false
}

// parseSOF reads the frame header (spec §B.2.2) and checks its size.
func (d *decoder) parseSOF() error {
	body, off, err := d.segment("SOF")
	if err != nil {
		return err
	}
	if d.frame != nil {
		return d.errf(off, "second frame header (SOF); a WSQ stream holds one image")
	}
	if len(body) != 15 {
		return d.errf(off, "SOF segment has %d bytes, want 15", len(body))
	}
	h, w := u16(body[2:]), u16(body[4:])
	if w == 0 || h == 0 {
		return d.errf(off, "frame is %dx%d; it needs at least one pixel", w, h)
	}
	if w*h > MaxPixels {
		return d.errf(off, "frame is %dx%d = %d pixels; this decoder accepts at most %d", w, h, w*h, MaxPixels)
	}
	d.frame = &frameHeader{
		width: w, height: h,
		shift: float32(scaledAt(body[6:]).value()),
		scale: float32(scaledAt(body[9:]).value()),
	}
	return nil
}

// start fixes the subband layout once the first block (or the end) is
// reached; from then on the frame and quantization table are settled.
func (d *decoder) start(at int) error {
	if d.dqt == nil {
		return d.errf(at, "image data without a quantization table (DQT)")
	}
	d.started = true
	d.geom = newGeometry(d.frame.width, d.frame.height)
	for k := 0; k < numSubbands; k++ {
		if d.dqt.q[k] > 0 {
			d.total += d.geom.bands[k].w * d.geom.bands[k].h
		}
	}
	return nil
}

// block decodes one SOB segment's entropy-coded data and returns the
// marker that ends it.
func (d *decoder) block() (int, error) {
	body, off, err := d.segment("SOB")
	if err != nil {
		return 0, err
	}
	if len(body) != 1 {
		return 0, d.errf(off, "SOB segment has %d bytes, want 1", len(body))
	}
	if !d.started {
		if err := d.start(off); err != nil {
			return 0, err
		}
	}
	id := int(body[0])
	if id >= maxTables || d.tables[id] == nil {
		return 0, d.errf(off, "block uses Huffman table %d, which is not defined", id)
	}
	h := d.tables[id]
	br := bitReader{data: d.data, pos: d.pos}
	for {
		symAt := br.pos
		sym, ok, err := br.decode(h)
		if err != nil {
			return 0, d.errf(symAt, "%v", err)
		}
		if !ok {
			switch {
			case br.marker >= markerRST0 && br.marker <= markerRST7:
				// A restart: the bits left before it are padding.
				br.acc, br.n, br.marker = 0, 0, 0
				continue
			case br.marker == 0:
				return 0, d.errf(br.pos, "image data runs to the end of the stream without an EOI marker")
			}
			d.pos = br.pos
			return int(br.marker), nil
		}
		run := -1 // a zero run (possibly of length 0), or -1 for a coefficient
		var val int32
		switch {
		case sym >= 1 && sym <= symMaxRun:
			run = sym
		case sym == symRun8 || sym == symRun16:
			v, err := br.bits(8 * uint(sym-symRun8+1))
			if err != nil {
				return 0, d.errf(br.pos, "zero run length: %v", err)
			}
			run = int(v)
		case sym >= symPos8 && sym <= symNeg16:
			nbits := uint(8)
			if sym >= symPos16 {
				nbits = 16
			}
			v, err := br.bits(nbits)
			if err != nil {
				return 0, d.errf(br.pos, "coefficient magnitude: %v", err)
			}
			val = int32(v)
			if sym == symNeg8 || sym == symNeg16 {
				val = -val
			}
		case sym >= symCoefFirst && sym <= symCoefLast:
			val = int32(sym - symCoefZero)
		default:
			return 0, d.errf(symAt, "Huffman symbol %d is not a WSQ coefficient category", sym)
		}
		if run >= 0 {
			if run > d.total-d.n {
				return 0, d.errf(symAt, "zero run of %d goes past the %d coefficients the frame holds", run, d.total)
			}
			d.n += run
			continue
		}
		if d.n >= d.total {
			return 0, d.errf(symAt, "more coefficients than the %d the frame holds", d.total)
		}
		if val != 0 {
			d.nzPos = append(d.nzPos, int32(d.n))
			d.nzVal = append(d.nzVal, val)
		}
		d.n++
	}
}

// reconstruct dequantizes the coefficients into the subband plane, runs
// the synthesis filter bank and undoes the shift and scale.
func (d *decoder) reconstruct() (*image.Gray, error) {
	f := d.frame
	w, h := f.width, f.height
	pp, tp := getPlane(w*h), getPlane(w*h)
	defer planePool.Put(pp)
	defer planePool.Put(tp)
	plane := *pp
	clear(plane)
	base, j := 0, 0
	for k := 0; k < numSubbands; k++ {
		q := d.dqt.q[k]
		if q <= 0 {
			continue
		}
		r := d.geom.bands[k]
		area := r.w * r.h
		z := d.dqt.z[k]
		for ; j < len(d.nzPos) && int(d.nzPos[j]) < base+area; j++ {
			local := int(d.nzPos[j]) - base
			y, x := local/r.w, local%r.w
			plane[(r.y+y)*w+r.x+x] = dequantize(d.nzVal[j], q, z, d.dqt.c)
		}
		base += area
	}
	if d.even != nil {
		for i := len(d.geom.nodes) - 1; i >= 0; i-- {
			nd := d.geom.nodes[i]
			d.even.synthRegion(plane, w, nd.r, nd.invX, nd.invY)
		}
	} else {
		newTransformer(d.fb, plane, *tp, w, h).inverse(d.geom)
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range plane {
		p := v*f.scale + f.shift + 0.5
		switch {
		case p >= 255:
			img.Pix[i] = 255
		case p >= 0:
			img.Pix[i] = uint8(p)
		default: // negative or NaN
			img.Pix[i] = 0
		}
	}
	return img, nil
}

// bitReader reads entropy-coded bits MSB first, removing the zero byte
// stuffed after each 0xFF and stopping at the next marker.
type bitReader struct {
	data   []byte
	pos    int
	acc    uint64
	n      uint
	marker uint16 // the marker that stopped reading, 0 if none yet
	eof    bool
}

func (r *bitReader) fill() {
	for r.n <= 56 && r.marker == 0 && !r.eof {
		if r.pos >= len(r.data) {
			r.eof = true
			return
		}
		b := r.data[r.pos]
		if b != 0xFF {
			r.pos++
			r.acc = r.acc<<8 | uint64(b)
			r.n += 8
			continue
		}
		if r.pos+1 >= len(r.data) {
			r.eof = true
			return
		}
		switch nb := r.data[r.pos+1]; nb {
		case 0x00:
			r.pos += 2
			r.acc = r.acc<<8 | 0xFF
			r.n += 8
		case 0xFF:
			r.pos++ // fill byte before a marker
		default:
			r.marker = 0xFF00 | uint16(nb)
			r.pos += 2
		}
	}
}

var errShortBits = errors.New("cut off by a marker or the end of the stream")

// decode reads one Huffman symbol. ok is false when the data ends (at a
// marker or the end of input) before a whole code: the bits left are the
// block's padding.
func (r *bitReader) decode(h *huffDecoder) (sym int, ok bool, err error) {
	if r.n < maxCodeLen {
		r.fill()
	}
	if r.n >= fastBits {
		e := h.fast[(r.acc>>(r.n-fastBits))&(1<<fastBits-1)]
		if e != 0 {
			r.n -= uint(e & 0xFF)
			return int(e >> 8), true, nil
		}
	}
	code := int32(0)
	for l := 1; l <= maxCodeLen; l++ {
		if uint(l) > r.n {
			return 0, false, nil
		}
		code = code<<1 | int32(r.acc>>(r.n-uint(l))&1)
		if code <= h.maxcode[l] {
			r.n -= uint(l)
			return int(h.values[h.valptr[l]+code-h.mincode[l]]), true, nil
		}
	}
	return 0, false, errors.New("bits match no code of the block's Huffman table")
}

// bits reads n ≤ 16 raw bits.
func (r *bitReader) bits(n uint) (uint32, error) {
	if r.n < n {
		r.fill()
	}
	if r.n < n {
		return 0, errShortBits
	}
	v := uint32(r.acc>>(r.n-n)) & (1<<n - 1)
	r.n -= n
	return v, nil
}
