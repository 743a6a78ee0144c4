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

func getPlane(n int) *[]float32 {
	if p, ok := planePool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

// Encode compresses img with WSQ at a target of bitrate bits per pixel
// (DefaultBitrate for the FBI's usual 0.75; 2.25 for near-lossless) and
// records ppi in a NISTCOM comment (ppi ≤ 0 is written as unknown, -1).
func Encode(img *image.Gray, ppi int, bitrate float64) ([]byte, error) {
	return encode(img, ppi, bitrate, nil)
}

// analysisBank lets tests encode with another filter bank: forward
// decomposes the plane in place, and lo, hi are the halves the DTT
// carries.
type analysisBank struct {
	forward func(plane []float32, g *geometry)
	lo, hi  []float64
}

func encode(img *image.Gray, ppi int, bitrate float64, bank *analysisBank) ([]byte, error) {
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

	// Bit allocation, then the bin widths as the DQT will carry them.
	Q := binWidths(variances(plane, g), bitrate)
	var qs, zs [totalSubbands]scaled
	var qv, zv [numSubbands]float32
	for k := 0; k < numSubbands; k++ {
		if Q[k] <= 0 {
			continue
		}
		// Z = 1.2 Q must fit the 16-bit field as well.
		qk := min(Q[k], 65535/zeroBinRatio)
		qs[k], zs[k] = toScaled(qk, 65535), toScaled(zeroBinRatio*qk, 65535)
		qv[k], zv[k] = float32(qs[k].value()), float32(zs[k].value())
		if qv[k] <= 0 {
			qs[k], zs[k], qv[k], zv[k] = scaled{}, scaled{}, 0, 0
		}
	}

	// Quantize the three blocks into symbols.
	blocks := [3][2]int{{0, block2Start}, {block2Start, block3Start}, {block3Start, numSubbands}}
	var syms [3][]symbol
	for b, rng := range blocks {
		var rc runCoder
		for k := rng[0]; k < rng[1]; k++ {
			if qv[k] == 0 {
				continue
			}
			br := g.bands[k]
			q, z := qv[k], zv[k]
			for y := br.y; y < br.y+br.h; y++ {
				for _, v := range plane[y*w+br.x : y*w+br.x+br.w] {
					rc.add(quantize(v, q, z))
				}
			}
		}
		syms[b] = rc.finish()
	}

	// Huffman tables: table 0 for block 1, table 1 shared by blocks 2 and
	// 3, as the reference encoder does.
	var freq [2][256]int
	for b, s := range syms {
		t := min(b, 1)
		for _, sy := range s {
			freq[t][sy.sym]++
		}
	}
	var specs [2]huffSpec
	var codes [2][256]huffCode
	for t := range specs {
		specs[t] = buildHuffSpec(&freq[t])
		codes[t] = specs[t].encodeTable()
	}

	out := make([]byte, 0, int(float64(w*h)*bitrate/8)+1024)
	out = be16(out, markerSOI)
	out = appendCOM(out, nistcom(w, h, ppi, bitrate))
	switch {
	case bank == nil:
		out = appendDTT(out, specLowpass, specHighpass)
	default:
		out = appendDTTLengths(out, 2*len(bank.lo), 2*len(bank.hi), bank.lo, bank.hi)
	}
	out = appendDQT(out, &qs, &zs)
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

// runCoder turns a coefficient sequence into run-length and value symbols.
type runCoder struct {
	out []symbol
	run int
}

func (rc *runCoder) add(p int32) {
	if p == 0 {
		rc.run++
		return
	}
	rc.flushRun()
	switch {
	case p >= -directMax && p <= directMax:
		rc.out = append(rc.out, symbol{sym: uint8(symCoefZero + p)})
	case p > 0 && p <= 0xFF:
		rc.out = append(rc.out, symbol{sym: symPos8, nbits: 8, extra: uint16(p)})
	case p > 0:
		rc.out = append(rc.out, symbol{sym: symPos16, nbits: 16, extra: uint16(p)})
	case p >= -0xFF:
		rc.out = append(rc.out, symbol{sym: symNeg8, nbits: 8, extra: uint16(-p)})
	default:
		rc.out = append(rc.out, symbol{sym: symNeg16, nbits: 16, extra: uint16(-p)})
	}
}

func (rc *runCoder) flushRun() {
	for rc.run > 0 {
		n := min(rc.run, 0xFFFF)
		switch {
		case n <= symMaxRun:
			rc.out = append(rc.out, symbol{sym: uint8(n)})
		case n <= 0xFF:
			rc.out = append(rc.out, symbol{sym: symRun8, nbits: 8, extra: uint16(n)})
		default:
			rc.out = append(rc.out, symbol{sym: symRun16, nbits: 16, extra: uint16(n)})
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

// appendDQT writes the quantization table (spec §B.2.4): C, then Q_k and
// Z_k for all 64 subbands.
func appendDQT(b []byte, qs, zs *[totalSubbands]scaled) []byte {
	b = be16(b, markerDQT)
	b = be16(b, 2+3+6*totalSubbands)
	b = appendScaled16(b, scaled{e: 2, n: 44}) // C = 0.44
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
