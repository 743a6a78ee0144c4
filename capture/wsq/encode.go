package wsq

import (
	"errors"
	"fmt"
	"image"
	"math"
	"strconv"
	"strings"
	"sync"
)

// Markers (spec Part 1 §B.1, Table B.1). Each is two bytes, 0xFF then a code.
const (
	markerSOI  = 0xFFA0 // start of image
	markerEOI  = 0xFFA1 // end of image
	markerSOF  = 0xFFA2 // start of frame: size, shift, scale
	markerSOB  = 0xFFA3 // start of block: Huffman table selector, then data
	markerDTT  = 0xFFA4 // define transform table (filter coefficients)
	markerDQT  = 0xFFA5 // define quantization table
	markerDHT  = 0xFFA6 // define Huffman table(s)
	markerDRT  = 0xFFA7 // define restart interval
	markerCOM  = 0xFFA8 // comment
	markerRST0 = 0xFFB0 // restart markers RST0-RST7 inside entropy-coded data
	markerRST7 = 0xFFB7
)

// Limits on images this package encodes or decodes.
const (
	// MaxDimension is the largest width or height the 16-bit SOF fields
	// can hold.
	MaxDimension = 65535
	// MaxPixels bounds width×height. It covers a full 8"×8" ten-print card
	// at 500 ppi (4000×4000) with room to spare; the decoder refuses
	// larger frames rather than allocate for them.
	MaxPixels = 1 << 24
)

// DefaultBitrate is the target rate the FBI uses for 500 ppi prints, in
// bits per pixel (about 15:1 on real fingerprints).
const DefaultBitrate = 0.75

// encoderNumber and softwareNumber go in the SOF (spec §B.2.2): 0 marks an
// encoder that follows the FBI's encoder #1 parameters without a
// certification number.
const (
	encoderNumber  = 0
	softwareNumber = 0
)

// Scratch buffers reused across Encode calls of the same size class.
var planePool sync.Pool

// passPool holds quantization passes (with their symbol buffers) for
// reuse across Encode calls.
var passPool sync.Pool

// getPass returns a cleared quantization pass with Z/Q = zr that gathers
// error statistics if wantErr is set.
func getPass(zr float64, wantErr bool) *quantPass {
	p, _ := passPool.Get().(*quantPass)
	if p == nil {
		p = new(quantPass)
	}
	syms := p.syms
	*p = quantPass{zr: zr, wantErr: wantErr, syms: syms}
	return p
}

func getPlane(n int) *[]float32 {
	if p, ok := planePool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

// Allocation selects how the encoder chooses the quantizer's bin widths
// Q_k, zero bins Z_k and reconstruction parameter C. Either way the file
// is an ordinary WSQ stream that carries its own Q_k, Z_k and C, so any
// WSQ decoder reads it.
type Allocation int

const (
	// AllocFBI is FBI encoder #1's allocation (spec Part 3): Q_k from the
	// subband variances and the target rate, Z_k = 1.2 Q_k, C = 0.44.
	// With Options.FixedRate unset the rate is, as in the FBI's encoder,
	// a distortion setting rather than a size (see Encode).
	AllocFBI Allocation = iota
	// AllocMSE chooses bin widths for the least squared error per byte:
	// Q_k ∝ 1/√G_k with G_k the synthesis gain of subband k,
	// Z_k = 1.5 Q_k and C fitted to the image, all scaled so that the
	// file stays within Options.Bitrate × pixels / 8 bytes (and about 1%
	// under it: the rate is a ceiling). On prints it gives
	// 0.2-0.45 dB more PSNR than AllocFBI at the same size (see mse.go).
	AllocMSE
)

// String names the allocation as the command line spells it.
func (a Allocation) String() string {
	switch a {
	case AllocFBI:
		return "fbi"
	case AllocMSE:
		return "mse"
	}
	return "Allocation(" + strconv.Itoa(int(a)) + ")"
}

// Options configures EncodeOptions.
type Options struct {
	// PPI is recorded in the NISTCOM comment; ≤ 0 is written as -1
	// (unknown).
	PPI int
	// Bitrate is the target in bits per pixel, in (0, 8]; 0 means
	// DefaultBitrate.
	Bitrate float64
	// Allocation chooses the bin widths; the zero value is AllocFBI.
	Allocation Allocation
	// FixedRate holds the file to Bitrate × pixels / 8 bytes (within a
	// few percent) by scaling all bin widths by one factor. AllocMSE
	// always does this.
	FixedRate bool
}

// Encode compresses img with WSQ at a target of bitrate bits per pixel
// (DefaultBitrate for the FBI's usual 0.75; 2.25 for near-lossless) and
// records ppi in a NISTCOM comment (ppi ≤ 0 is written as unknown, -1).
//
// As in the FBI's encoder #1, bitrate sets the distortion level through the
// spec's bit allocation rather than the file size: prints usually come out
// well below bitrate (about 15:1 rather than 10.7:1 at 0.75 bpp), and
// sharp, high-contrast prints further below. EncodeFixedRate holds the
// size to the target instead.
func Encode(img *image.Gray, ppi int, bitrate float64) ([]byte, error) {
	return encodeWith(img, Options{PPI: ppi, Bitrate: bitrate}, nil)
}

// EncodeFixedRate compresses img like Encode but scales all of the bit
// allocation's bin widths by one common factor, found by a few
// quantization passes, so that the stream is within a few percent of
// bitrate × pixels / 8 bytes. Where the allocation undershoots (sharp
// prints) this buys fidelity for the bytes the caller budgeted; where it
// overshoots the file is held to the budget. Images too plain to fill the
// budget (mostly blank) get the finest bins the search allows
// (1/16 of the allocation's) and stay smaller. The stream is an ordinary
// WSQ stream: the DQT carries the scaled widths.
func EncodeFixedRate(img *image.Gray, ppi int, bitrate float64) ([]byte, error) {
	return encodeWith(img, Options{PPI: ppi, Bitrate: bitrate, FixedRate: true}, nil)
}

// EncodeMSE compresses img with the MSE allocation (AllocMSE) to at most
// about bitrate × pixels / 8 bytes. It has Encode's signature so that it can
// stand in for it.
func EncodeMSE(img *image.Gray, ppi int, bitrate float64) ([]byte, error) {
	return encodeWith(img, Options{PPI: ppi, Bitrate: bitrate, Allocation: AllocMSE}, nil)
}

// EncodeOptions compresses img as o says.
func EncodeOptions(img *image.Gray, o Options) ([]byte, error) {
	if o.Bitrate == 0 {
		o.Bitrate = DefaultBitrate
	}
	return encodeWith(img, o, nil)
}

// analysisBank lets tests encode with another filter bank: forward
// decomposes the plane in place, and lo, hi are the halves the DTT
// carries.
type analysisBank struct {
	forward func(plane []float32, g *geometry)
	lo, hi  []float64
}

func encode(img *image.Gray, ppi int, bitrate float64, bank *analysisBank) ([]byte, error) {
	return encodeWith(img, Options{PPI: ppi, Bitrate: bitrate}, bank)
}

// encodeWith encodes img with the options' allocation, its bin widths
// taken as they are (AllocFBI without FixedRate) or multiplied by the
// common scale that meets the target rate.
func encodeWith(img *image.Gray, o Options, bank *analysisBank) ([]byte, error) {
	ppi, bitrate := o.PPI, o.Bitrate
	if o.Allocation != AllocFBI && o.Allocation != AllocMSE {
		return nil, fmt.Errorf("wsq encode: unknown bit allocation %v; use AllocFBI or AllocMSE", o.Allocation)
	}
	if img == nil {
		return nil, errors.New("wsq encode: no image")
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if w < 1 || h < 1 {
		return nil, fmt.Errorf("wsq encode: image is %dx%d; it needs at least one pixel", w, h)
	}
	if w > MaxDimension || h > MaxDimension || w*h > MaxPixels {
		return nil, fmt.Errorf("wsq encode: image is %dx%d; WSQ here is limited to %d pixels a side and %d pixels in all", w, h, MaxDimension, MaxPixels)
	}
	if math.IsNaN(bitrate) || bitrate <= 0 || bitrate > 8 {
		return nil, fmt.Errorf("wsq encode: bit rate %v is outside (0, 8] bits per pixel", bitrate)
	}

	// Shift and scale (spec §B.2.2): the plane holds (pixel - M) / R with
	// M the mean and R such that the values span about ±128. The encoder
	// uses the values as the SOF stores them, so decoder and encoder agree.
	var sum uint64
	lo, hi := 255, 0
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+w]
		for _, p := range row {
			sum += uint64(p)
			lo = min(lo, int(p))
			hi = max(hi, int(p))
		}
	}
	mean := float64(sum) / float64(w*h)
	r := max(mean-float64(lo), float64(hi)-mean) / 128
	if r == 0 {
		r = 1
	}
	mS, rS := toScaled(mean, 65535), toScaled(r, 65535)
	m, rv := float32(mS.value()), float32(rS.value())

	pp := getPlane(w * h)
	defer planePool.Put(pp)
	plane := *pp
	inv := 1 / rv
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+w]
		out := plane[y*w : (y+1)*w]
		for x, p := range row {
			out[x] = (float32(p) - m) * inv
		}
	}

	g := newGeometry(w, h)
	tp := getPlane(w * h)
	defer planePool.Put(tp)
	if bank == nil {
		newTransformer(specFilters, plane, *tp, w, h).forward(g)
	} else {
		bank.forward(plane, g)
	}

	// Bit allocation (spec Part 3) gives the bin widths' proportions; a
	// common scale of all of them then brings the coded size to the
	// target (see fitScale). The MSE allocation tries the FBI proportions
	// and its own (mse.go) and keeps the one with less error.
	fbiQ := binWidths(variances(plane, g), bitrate)
	header := fixedHeaderLen(ppi, w, h, bitrate, bank)
	target := bitrate * float64(w*h) / 8
	var qp *quantPass
	c := fbiBinCenter
	var passes [2]*quantPass
	defer func() {
		for _, p := range passes {
			if p != nil {
				passPool.Put(p)
			}
		}
	}()
	switch {
	case o.Allocation == AllocMSE:
		// The rate is a ceiling here (see mseRateTolerance). The size
		// estimate leaves out the last partial byte of each block and
		// counts the zero bytes stuffed after 0xFF bytes by their mean
		// (one in 256, so a standard deviation of √(n/256)); the margin
		// covers both.
		target = max(1, target*(1-mseRateTolerance)-(3+3*math.Sqrt(target/256)))
		mseQ := mseBinWidths(&fbiQ)
		bestErr := math.Inf(1)
		var bestC float64
		for i, cand := range []struct {
			Q  *[numSubbands]float64
			zr float64
		}{{&fbiQ, zeroBinRatio}, {&mseQ, mseZeroBinRatio}} {
			if i > 0 {
				// mseQ has the FBI widths' geometric mean: start its
				// search from the scale the FBI widths needed.
				for k := range cand.Q {
					cand.Q[k] *= qp.scale
				}
			}
			p := getPass(cand.zr, true)
			passes[i] = p
			p.fit(plane, g, cand.Q, header, target, mseRateTolerance, mseRatePasses)
			if cc, e := p.err.bestC(); e < bestErr || qp == nil {
				qp, bestErr, bestC = p, e, cc
			}
		}
		c = toScaled(bestC, 65535)
	case o.FixedRate:
		qp = getPass(zeroBinRatio, false)
		passes[0] = qp
		qp.fit(plane, g, &fbiQ, header, target, rateTolerance, maxRatePasses)
	default:
		qp = getPass(zeroBinRatio, false)
		passes[0] = qp
		qp.run(plane, g, &fbiQ, 1)
	}
	qs, zs, syms := &qp.qs, &qp.zs, &qp.syms

	// Huffman tables: table 0 for block 1, table 1 shared by blocks 2 and
	// 3, as the reference encoder does.
	specs, codes := qp.tables()

	out := make([]byte, 0, int(float64(w*h)*bitrate/8)+1024)
	out = be16(out, markerSOI)
	out = appendCOM(out, nistcom(w, h, ppi, bitrate))
	switch {
	case bank == nil:
		out = appendDTT(out, specLowpass, specHighpass)
	default:
		out = appendDTTLengths(out, 2*len(bank.lo), 2*len(bank.hi), bank.lo, bank.hi)
	}
	out = appendDQT(out, c, qs, zs)
	out = appendSOF(out, w, h, mS, rS)
	tableWritten := [2]bool{}
	bw := bitWriter{}
	for b, s := range syms {
		if len(s) == 0 {
			continue
		}
		t := min(b, 1)
		if !tableWritten[t] {
			out = appendDHT(out, t, &specs[t])
			tableWritten[t] = true
		}
		out = be16(out, markerSOB)
		out = be16(out, 3)
		out = append(out, byte(t))
		bw.out = out
		c := &codes[t]
		for _, sy := range s {
			hc := c[sy.sym]
			bw.write(hc.code, uint(hc.size))
			if sy.nbits > 0 {
				bw.write(uint32(sy.extra), uint(sy.nbits))
			}
		}
		bw.flush()
		out = bw.out
	}
	out = be16(out, markerEOI)
	return out, nil
}

// runCoder turns a coefficient sequence into run-length and value symbols
// in out, counting them in freq if it is set.
type runCoder struct {
	out       []symbol
	run       int
	freq      *[256]int
	extraBits int
	n         int // symbols emitted
}

func (rc *runCoder) emit(s symbol) {
	rc.n++
	rc.extraBits += int(s.nbits)
	if rc.freq != nil {
		rc.freq[s.sym]++
	}
	rc.out = append(rc.out, s)
}

func (rc *runCoder) add(p int32) {
	if p == 0 {
		rc.run++
		return
	}
	rc.flushRun()
	switch {
	case p >= -directMax && p <= directMax:
		rc.emit(symbol{sym: uint8(symCoefZero + p)})
	case p > 0 && p <= 0xFF:
		rc.emit(symbol{sym: symPos8, nbits: 8, extra: uint16(p)})
	case p > 0:
		rc.emit(symbol{sym: symPos16, nbits: 16, extra: uint16(p)})
	case p >= -0xFF:
		rc.emit(symbol{sym: symNeg8, nbits: 8, extra: uint16(-p)})
	default:
		rc.emit(symbol{sym: symNeg16, nbits: 16, extra: uint16(-p)})
	}
}

func (rc *runCoder) flushRun() {
	for rc.run > 0 {
		n := min(rc.run, 0xFFFF)
		switch {
		case n <= symMaxRun:
			rc.emit(symbol{sym: uint8(n)})
		case n <= 0xFF:
			rc.emit(symbol{sym: symRun8, nbits: 8, extra: uint16(n)})
		default:
			rc.emit(symbol{sym: symRun16, nbits: 16, extra: uint16(n)})
		}
		rc.run -= n
	}
}

func (rc *runCoder) finish() []symbol {
	rc.flushRun()
	return rc.out
}

func be16(b []byte, v int) []byte { return append(b, byte(v>>8), byte(v)) }

func be32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendScaled16(b []byte, s scaled) []byte {
	return be16(append(b, s.e), int(s.n))
}

// appendDTT writes the transform table (spec §B.2.3): the two filter
// lengths, then the centre and one side of each symmetric filter as
// sign byte, decimal exponent byte and 32-bit magnitude. Odd-length
// filters are given as centre and right side; appendDTTLengths also
// writes even-length ones (right half only).
func appendDTT(b []byte, lo, hi []float64) []byte {
	return appendDTTLengths(b, 2*len(lo)-1, 2*len(hi)-1, lo, hi)
}

func appendDTTLengths(b []byte, l0, l1 int, lo, hi []float64) []byte {
	b = be16(b, markerDTT)
	b = be16(b, 2+2+6*(len(lo)+len(hi)))
	b = append(b, byte(l0), byte(l1))
	for _, f := range [][]float64{lo, hi} {
		for _, c := range f {
			sign := byte(0)
			if c < 0 {
				sign, c = 1, -c
			}
			s := toScaled(c, math.MaxUint32)
			b = append(b, sign, s.e)
			b = be32(b, s.n)
		}
	}
	return b
}

// fbiBinCenter is binCenter as the reference encoder writes it.
var fbiBinCenter = scaled{e: 2, n: 44}

// appendDQT writes the quantization table (spec §B.2.4): C, then Q_k and
// Z_k for all 64 subbands.
func appendDQT(b []byte, c scaled, qs, zs *[totalSubbands]scaled) []byte {
	b = be16(b, markerDQT)
	b = be16(b, 2+3+6*totalSubbands)
	b = appendScaled16(b, c)
	for k := 0; k < totalSubbands; k++ {
		b = appendScaled16(b, qs[k])
		b = appendScaled16(b, zs[k])
	}
	return b
}

// appendDHT writes one Huffman table (spec §B.2.5).
func appendDHT(b []byte, id int, hs *huffSpec) []byte {
	b = be16(b, markerDHT)
	b = be16(b, 2+1+maxCodeLen+len(hs.values))
	b = append(b, byte(id))
	for l := 1; l <= maxCodeLen; l++ {
		b = append(b, byte(hs.counts[l]))
	}
	return append(b, hs.values...)
}

// appendSOF writes the frame header (spec §B.2.2).
func appendSOF(b []byte, w, h int, m, r scaled) []byte {
	b = be16(b, markerSOF)
	b = be16(b, 17)
	b = append(b, 0, 255) // black and white levels
	b = be16(b, h)
	b = be16(b, w)
	b = appendScaled16(b, m)
	b = appendScaled16(b, r)
	b = append(b, encoderNumber)
	return be16(b, softwareNumber)
}

func appendCOM(b []byte, text string) []byte {
	b = be16(b, markerCOM)
	b = be16(b, 2+len(text))
	return append(b, text...)
}

// nistcom builds the NIST comment block the reference tools put in every
// WSQ file: attribute lines "NAME value", the first giving their count.
func nistcom(w, h, ppi int, bitrate float64) string {
	if ppi <= 0 {
		ppi = -1
	}
	attrs := [][2]string{
		{"PIX_WIDTH", strconv.Itoa(w)},
		{"PIX_HEIGHT", strconv.Itoa(h)},
		{"PIX_DEPTH", "8"},
		{"PPI", strconv.Itoa(ppi)},
		{"LOSSY", "1"},
		{"COLORSPACE", "GRAY"},
		{"COMPRESSION", "WSQ"},
		{"WSQ_BITRATE", strconv.FormatFloat(bitrate, 'f', 6, 64)},
	}
	lines := []string{fmt.Sprintf("NIST_COM %d", len(attrs)+1)}
	for _, a := range attrs {
		lines = append(lines, a[0]+" "+a[1])
	}
	// Lines are separated, not terminated, by newlines, as in the files
	// NIST's tools write.
	return strings.Join(lines, "\n")
}
