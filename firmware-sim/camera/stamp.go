package camsim

import (
	"errors"
	"fmt"
	"image"
	"time"
)

// The capture stamp: a strip across the top of the frame that carries the
// time the frame was captured, so that anything downstream (the station,
// a browser showing the preview) can tell how old the picture it shows
// is, from the pixels alone. It is built to survive JPEG compression and
// scaling: one row of StampCells square cells, each cell W/StampCells
// pixels wide and as tall, black (StampDark) for 0 and white (StampLight)
// for 1. A reader samples the middle of each cell and thresholds half-way
// between the two sync cells.
//
//	cell 0        1 (white)  sync
//	cell 1        0 (black)  sync
//	cells 2..49   capture time, milliseconds since the Unix epoch, 48 bits, most significant first
//	cells 50..55  frame sequence number modulo 64, most significant first
//	cells 56..63  CRC-8 (polynomial 0x07, initial 0) of the 54 bits above, packed
//	              big-endian into 7 bytes (time << 6 | seq), most significant first
//
// The layout is documented for other readers in docs/camera-sim.md (the
// browser benchmark decodes it in JavaScript).
const (
	StampCells = 64
	StampDark  = 16
	StampLight = 240
	// stampMinContrast: the sync cells must differ by this many grey levels.
	stampMinContrast = 60
)

// Stamp is what a capture stamp carries.
type Stamp struct {
	Time time.Time // capture time, to the millisecond
	Seq  uint8     // frame sequence number modulo 64
}

// StampHeight is the strip's height in a frame w pixels wide.
func StampHeight(w int) int { return max(1, (w+StampCells/2)/StampCells) }

func stampBits(s Stamp) [StampCells]bool {
	var bits [StampCells]bool
	bits[0] = true
	ms := uint64(s.Time.UnixMilli()) & (1<<48 - 1)
	v := ms<<6 | uint64(s.Seq&63)
	for i := range 54 {
		bits[2+i] = v>>(53-i)&1 == 1
	}
	c := crc8(v)
	for i := range 8 {
		bits[56+i] = c>>(7-i)&1 == 1
	}
	return bits
}

// crc8 of the 54-bit value packed big-endian into 7 bytes.
func crc8(v uint64) uint8 {
	var c uint8
	for i := 6; i >= 0; i-- {
		c ^= uint8(v >> (8 * i))
		for range 8 {
			if c&0x80 != 0 {
				c = c<<1 ^ 0x07
			} else {
				c <<= 1
			}
		}
	}
	return c
}

// cellSpan is the pixel range [x0, x1) of cell i in a frame w wide.
func cellSpan(i, w int) (int, int) {
	return i * w / StampCells, (i + 1) * w / StampCells
}

// DrawStamp draws s over the top rows of img.
func DrawStamp(img *image.RGBA, s Stamp) {
	b := img.Rect
	w := b.Dx()
	if w < StampCells {
		return
	}
	h := min(StampHeight(w), b.Dy())
	bits := stampBits(s)
	for i, bit := range bits {
		v := uint8(StampDark)
		if bit {
			v = StampLight
		}
		x0, x1 := cellSpan(i, w)
		for y := 0; y < h; y++ {
			row := img.Pix[y*img.Stride:]
			for x := x0; x < x1; x++ {
				p := row[4*x : 4*x+4]
				p[0], p[1], p[2], p[3] = v, v, v, 255
			}
		}
	}
}

// ErrNoStamp: the image carries no readable capture stamp.
var ErrNoStamp = errors.New("camsim: no capture stamp in the image")

// ReadStamp reads the capture stamp of an image (48 bits of milliseconds
// last until the year 10889).
func ReadStamp(img image.Image) (Stamp, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w < StampCells || h < StampHeight(w) {
		return Stamp{}, fmt.Errorf("%w: %dx%d is too small for a %d-cell strip", ErrNoStamp, w, h, StampCells)
	}
	sh := StampHeight(w)
	// The middle half of each cell, away from the edges JPEG blurs.
	y0, y1 := b.Min.Y+sh/4, b.Min.Y+max(sh/4+1, 3*sh/4)
	// Luma in grey levels (ITU-R BT.601 weights); RGBA images without
	// the interface call per pixel.
	luma := func(x, y int) float64 {
		r, g, bb, _ := img.At(x, y).RGBA()
		return (299*float64(r) + 587*float64(g) + 114*float64(bb)) / 1000 / 257
	}
	if m, ok := img.(*image.RGBA); ok {
		luma = func(x, y int) float64 {
			p := m.Pix[m.PixOffset(x, y):]
			return (299*float64(p[0]) + 587*float64(p[1]) + 114*float64(p[2])) / 1000
		}
	}
	var lum [StampCells]float64
	for i := range lum {
		x0, x1 := cellSpan(i, w)
		cw := x1 - x0
		x0, x1 = b.Min.X+x0+cw/4, b.Min.X+x0+max(cw/4+1, 3*cw/4)
		var sum float64
		n := 0
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				sum += luma(x, y)
				n++
			}
		}
		lum[i] = sum / float64(n)
	}
	if lum[0]-lum[1] < stampMinContrast {
		return Stamp{}, fmt.Errorf("%w: sync cells %.0f and %.0f", ErrNoStamp, lum[0], lum[1])
	}
	mid := (lum[0] + lum[1]) / 2
	var v uint64
	for i := 2; i < 56; i++ {
		v <<= 1
		if lum[i] > mid {
			v |= 1
		}
	}
	var c uint8
	for i := 56; i < 64; i++ {
		c <<= 1
		if lum[i] > mid {
			c |= 1
		}
	}
	if crc8(v) != c {
		return Stamp{}, fmt.Errorf("%w: check sum %02x, computed %02x", ErrNoStamp, c, crc8(v))
	}
	return Stamp{Time: time.UnixMilli(int64(v >> 6)), Seq: uint8(v & 63)}, nil
}
