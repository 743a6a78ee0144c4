package wsq

import (
	"math"
)

// Rate control. The spec's bit allocation (binWidths) models each subband
// as a uniform/Laplacian source; on real and synthetic prints the coded
// size it yields can be far from the target (sharp, almost binary ridges
// code to little more than half of it). Only the allocation's proportions
// between subbands are kept: every Q_k (and with it Z_k = 1.2 Q_k) is
// multiplied by one common scale, found by a few quantization passes that
// count Huffman symbols and sum their optimal code lengths instead of
// writing the stream; the symbols of the last pass are written if its
// scale is the one chosen. The DQT carries the scaled Q_k and Z_k, so the
// stream stays an ordinary WSQ stream.
const (
	// rateTolerance: fitScale stops once the estimated size is within this
	// fraction of the target.
	rateTolerance = 0.02
	// maxRatePasses bounds the estimation passes (each is a quantization
	// and symbol count of the whole plane, about a third of a transform).
	maxRatePasses = 8
	// mseRateTolerance, mseRatePasses: the MSE allocation compares
	// candidate allocations by their error, which is only fair at nearly
	// the same size, and treats the rate as a ceiling: it aims this
	// fraction under the budget and stops within it (so the file lands
	// in [1 - 2·mseRateTolerance, 1] of the budget), allowing a few more
	// passes.
	mseRateTolerance = 0.005
	mseRatePasses    = 12
	// minScale, maxScale bound the common scale: the allocation is trusted
	// to within a factor of 16 either way; beyond that the target is not
	// reachable in a sensible way (a nearly blank image at a high rate,
	// say) and the nearest bound is used.
	minScale = 1.0 / 16
	maxScale = 16.0
)

// quantPass is one quantization of the transformed plane with the bin
// widths of the allocation times a common scale.
type quantPass struct {
	qs, zs [totalSubbands]scaled
	qv, zv [numSubbands]float32
	// freq counts Huffman symbols per table (0 for block 1, 1 for blocks
	// 2 and 3); extraBits sums the bits that follow escape symbols; blocks
	// counts the nonempty blocks.
	freq      [2][256]int
	extraBits int
	blocks    int
	syms      [3][]symbol
	scale     float64 // of the last run
	// zr is Z_k / Q_k (zeroBinRatio for the FBI allocation).
	zr float64
	// With wantErr set, fit also gathers err, the statistics of the
	// quantization error it settles on (see errStats).
	wantErr bool
	err     errStats
}

// blockRanges are the subbands of the three blocks (spec Part 1 §B.3).
var blockRanges = [3][2]int{{0, block2Start}, {block2Start, block3Start}, {block3Start, numSubbands}}

// run quantizes the plane with Q·scale into symbols, counting them.
func (p *quantPass) run(plane []float32, g *geometry, Q *[numSubbands]float64, scale float64) {
	p.scale = scale
	p.qs, p.zs = [totalSubbands]scaled{}, [totalSubbands]scaled{}
	p.qv, p.zv = [numSubbands]float32{}, [numSubbands]float32{}
	for k := 0; k < numSubbands; k++ {
		if Q[k] <= 0 {
			continue
		}
		// Z = zr·Q must fit the 16-bit field as well.
		qk := min(Q[k]*scale, 65535/p.zr)
		p.qs[k], p.zs[k] = toScaled(qk, 65535), toScaled(p.zr*qk, 65535)
		p.qv[k], p.zv[k] = float32(p.qs[k].value()), float32(p.zs[k].value())
		if p.qv[k] <= 0 {
			p.qs[k], p.zs[k], p.qv[k], p.zv[k] = scaled{}, scaled{}, 0, 0
		}
	}
	p.freq = [2][256]int{}
	p.extraBits, p.blocks = 0, 0
	p.err = errStats{}
	w := g.width
	for b, rng := range blockRanges {
		rc := runCoder{out: p.syms[b][:0], freq: &p.freq[min(b, 1)]}
		for k := rng[0]; k < rng[1]; k++ {
			if p.qv[k] == 0 {
				continue
			}
			br := g.bands[k]
			q, z := p.qv[k], p.zv[k]
			hz, iq := z/2, 1/q
			for y := br.y; y < br.y+br.h; y++ {
				for _, v := range plane[y*w+br.x : y*w+br.x+br.w] {
					if v <= hz && v >= -hz {
						rc.run++ // the zero bin: most coefficients
						continue
					}
					rc.add(quantizeInv(v, hz, iq))
				}
			}
		}
		rc.finish()
		p.syms[b] = rc.out
		p.extraBits += rc.extraBits
		if rc.n > 0 {
			p.blocks++
		}
	}
}

// fit quantizes the plane with Q times the common scale whose stream
// (header bytes plus the payload) comes within tolerance of target bytes
// (or closest, after passes quantizations), and leaves that quantization
// in p.
// The error statistics, if p.wantErr asks for them, are gathered only in
// the last quantization.
func (p *quantPass) fit(plane []float32, g *geometry, Q *[numSubbands]float64, header int, target, tolerance float64, passes int) {
	wantErr := p.wantErr
	p.wantErr = false
	scale := fitScaleWithin(target, tolerance, passes, func(s float64) float64 {
		p.run(plane, g, Q, s)
		return float64(header + p.estimatePayload())
	})
	p.wantErr = wantErr
	if p.scale != scale {
		p.run(plane, g, Q, scale)
	}
	if wantErr {
		G := synthesisGains()
		for k := 0; k < numSubbands; k++ {
			if p.qv[k] != 0 {
				p.err.addBand(plane, g.width, g.bands[k], p.qv[k], p.zv[k], G[k])
			}
		}
	}
}

// tables builds the Huffman tables of the counted symbols.
func (p *quantPass) tables() (specs [2]huffSpec, codes [2][256]huffCode) {
	for t := range specs {
		specs[t] = buildHuffSpec(&p.freq[t])
		codes[t] = specs[t].encodeTable()
	}
	return
}

// estimatePayload is the size in bytes of the DHT and SOB segments and the
// entropy-coded data the counted symbols make, from the optimal
// (length-limited) code lengths; it leaves out only the partial last byte
// of each block.
func (p *quantPass) estimatePayload() int {
	specs, codes := p.tables()
	bits := p.extraBits
	n := 0
	for t := range specs {
		used := false
		for s, f := range p.freq[t] {
			if f > 0 {
				bits += f * int(codes[t][s].size)
				used = true
			}
		}
		if used {
			n += 2 + 2 + 1 + maxCodeLen + len(specs[t].values) // DHT
		}
	}
	n += p.blocks * (2 + 2 + 1) // SOB
	bytes := bits / 8
	// A zero byte follows every 0xFF byte of coded data; about one in 256.
	return n + bytes + bytes/256
}

// fixedHeaderLen is the length of everything in the stream that does not
// depend on the bin widths: SOI, COM, DTT, DQT, SOF and EOI.
func fixedHeaderLen(ppi, w, h int, bitrate float64, bank *analysisBank) int {
	n := 2 + 4 + len(nistcom(w, h, ppi, bitrate))
	if bank == nil {
		n += 2 + 2 + 2 + 6*(len(specLowpass)+len(specHighpass))
	} else {
		n += 2 + 2 + 2 + 6*(len(bank.lo)+len(bank.hi))
	}
	n += 2 + 2 + 3 + 6*totalSubbands // DQT
	n += 2 + 17                      // SOF
	return n + 2                     // EOI
}

// fitScale finds the common bin-width scale whose coded size, size(scale),
// is within rateTolerance of target bytes. The size falls as the scale
// grows, close to a power law, so the search runs on log size against log
// scale: secant steps kept inside a bracket once one is known (regula
// falsi with the Illinois modification), at most maxRatePasses calls.
func fitScale(target float64, size func(scale float64) float64) float64 {
	return fitScaleWithin(target, rateTolerance, maxRatePasses, size)
}

// fitScaleWithin is fitScale with its tolerance (a fraction of target)
// and pass limit given.
func fitScaleWithin(target, tolerance float64, passes int, size func(scale float64) float64) float64 {
	ls := 0.0 // log scale
	ly := math.Log(size(1))
	lt := math.Log(target)
	best, bestErr := 0.0, math.Abs(ly-lt)
	if bestErr <= tolerance {
		return 1
	}
	// Bracket: lo has size above target, hi below.
	haveLo, haveHi := false, false
	var loS, loY, hiS, hiY float64
	record := func(s, y float64) {
		if y > lt {
			loS, loY, haveLo = s, y, true
		} else {
			hiS, hiY, haveHi = s, y, true
		}
	}
	record(ls, ly)
	// Bits fall by about one per coefficient that stays significant when
	// the scale doubles; as a first guess the size goes as scale^-1.
	slope := -1.0
	prevS, prevY := ls, ly
	side := 0 // Illinois: which end was kept last time
	for pass := 1; pass < passes; pass++ {
		var next float64
		if haveLo && haveHi {
			// Regula falsi between the bracket ends.
			next = loS + (lt-loY)*(hiS-loS)/(hiY-loY)
		} else {
			next = prevS + (lt-prevY)/slope
		}
		next = max(math.Log(minScale), min(math.Log(maxScale), next))
		if next == prevS {
			break // pinned at a bound
		}
		y := math.Log(size(math.Exp(next)))
		if e := math.Abs(y - lt); e < bestErr {
			best, bestErr = next, e
		}
		if bestErr <= tolerance {
			break
		}
		if next != prevS && y != prevY {
			if s := (y - prevY) / (next - prevS); s < 0 {
				slope = s
			}
		}
		// Illinois: halve the weight of an end kept twice in a row.
		if y > lt {
			if side == -1 && haveHi {
				hiY = lt + (hiY-lt)/2
			}
			side = -1
		} else {
			if side == 1 && haveLo {
				loY = lt + (loY-lt)/2
			}
			side = 1
		}
		record(next, y)
		prevS, prevY = next, y
	}
	return math.Exp(best)
}
