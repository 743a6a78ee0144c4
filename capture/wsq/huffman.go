package wsq

import (
	"errors"
	"fmt"
)

// Huffman symbol categories of the coefficient stream (spec Part 1 §B.3,
// Table B.1).
const (
	symMaxRun    = 100 // symbols 1-100: a run of that many zero coefficients
	symPos8      = 101 // positive coefficient, magnitude in the next 8 bits
	symNeg8      = 102 // negative coefficient, magnitude in the next 8 bits
	symPos16     = 103 // positive coefficient, magnitude in the next 16 bits
	symNeg16     = 104 // negative coefficient, magnitude in the next 16 bits
	symRun8      = 105 // zero run, length in the next 8 bits
	symRun16     = 106 // zero run, length in the next 16 bits
	symCoefZero  = 180 // symbols 107-254: coefficient = symbol - 180
	symCoefFirst = 107
	symCoefLast  = 254
	// directMax is the largest magnitude this encoder codes as
	// symCoefZero±v; the symbol range is kept symmetric (-73..73).
	directMax = 73
)

// maxCodeLen is the longest Huffman code the DHT can describe.
const maxCodeLen = 16

// maxTables is the number of Huffman table identifiers a decoder keeps.
const maxTables = 8

// symbol is one coded unit: a Huffman symbol and its extra bits.
type symbol struct {
	sym   uint8
	nbits uint8
	extra uint16
}

// huffSpec is a table as the DHT carries it: how many codes of each length
// 1..16, and the symbols in code order.
type huffSpec struct {
	counts [maxCodeLen + 1]int // counts[l], l = 1..16
	values []uint8
}

// buildHuffSpec makes a length-limited Huffman table from symbol
// frequencies, following the procedure of ITU-T T.81 Annex K.2 that the
// WSQ spec adopts (§B.3): a reserved extra symbol keeps the all-ones code
// free, so padding a block with 1 bits can never decode as a symbol.
func buildHuffSpec(freq *[256]int) huffSpec {
	const reserved = 256
	var f [257]int
	copy(f[:], freq[:])
	f[reserved] = 1
	var size [257]int
	var next [257]int
	for i := range next {
		next[i] = -1
	}
	// live lists the symbols whose count is not zero, in increasing
	// order, so that each merge scans only those.
	var liveBuf [257]int
	live := liveBuf[:0]
	for i, c := range f {
		if c != 0 {
			live = append(live, i)
		}
	}
	for {
		// The two least frequent live symbols; on ties the higher symbol
		// number, so the reserved symbol sinks to the longest code.
		j1, j2 := -1, -1
		for j, i := range live {
			if j1 < 0 || f[i] <= f[live[j1]] {
				j1 = j
			}
		}
		for j, i := range live {
			if j == j1 {
				continue
			}
			if j2 < 0 || f[i] <= f[live[j2]] {
				j2 = j
			}
		}
		if j2 < 0 {
			break
		}
		v1, v2 := live[j1], live[j2]
		live = append(live[:j2], live[j2+1:]...)
		f[v1] += f[v2]
		f[v2] = 0
		size[v1]++
		for next[v1] >= 0 {
			v1 = next[v1]
			size[v1]++
		}
		next[v1] = v2
		size[v2]++
		for next[v2] >= 0 {
			v2 = next[v2]
			size[v2]++
		}
	}
	longest := 0
	for _, s := range size {
		longest = max(longest, s)
	}
	bits := make([]int, max(longest, maxCodeLen)+1)
	for _, s := range size {
		if s > 0 {
			bits[s]++
		}
	}
	// Limit code lengths to 16 bits (T.81 Annex K.3).
	for i := len(bits) - 1; i > maxCodeLen; i-- {
		for bits[i] > 0 {
			j := i - 2
			for bits[j] == 0 {
				j--
			}
			bits[i] -= 2
			bits[i-1]++
			bits[j+1] += 2
			bits[j]--
		}
	}
	// Drop the reserved symbol's code, the last of the longest.
	for i := maxCodeLen; i > 0; i-- {
		if bits[i] > 0 {
			bits[i]--
			break
		}
	}
	var hs huffSpec
	copy(hs.counts[:], bits[:maxCodeLen+1])
	for l := 1; l <= len(size); l++ {
		for v := 0; v < 256; v++ {
			if size[v] == l {
				hs.values = append(hs.values, uint8(v))
			}
		}
	}
	return hs
}

// huffCode is a symbol's code, right-aligned in code, and its length.
type huffCode struct {
	code uint32
	size uint8
}

// encodeTable returns each symbol's canonical code (T.81 Annex C).
func (hs *huffSpec) encodeTable() [256]huffCode {
	var t [256]huffCode
	code, k := uint32(0), 0
	for l := 1; l <= maxCodeLen; l++ {
		for i := 0; i < hs.counts[l]; i++ {
			t[hs.values[k]] = huffCode{code: code, size: uint8(l)}
			code++
			k++
		}
		code <<= 1
	}
	return t
}

// fastBits is the width of the decoder's lookup table.
const fastBits = 9

// huffDecoder decodes one table's canonical codes.
type huffDecoder struct {
	maxcode [maxCodeLen + 2]int32 // largest code of each length, -1 if none
	valptr  [maxCodeLen + 1]int32 // index in values of the first code of each length
	mincode [maxCodeLen + 1]int32
	values  []uint8
	// fast[c] for the next fastBits bits c: symbol<<8 | length, 0 if the
	// code is longer than fastBits.
	fast [1 << fastBits]uint16
}

// newHuffDecoder checks a DHT table and prepares it for decoding.
func newHuffDecoder(hs *huffSpec) (*huffDecoder, error) {
	total := 0
	for l := 1; l <= maxCodeLen; l++ {
		total += hs.counts[l]
	}
	if total != len(hs.values) {
		return nil, fmt.Errorf("table lists %d codes but %d values", total, len(hs.values))
	}
	if total == 0 {
		return nil, errors.New("table defines no codes")
	}
	d := &huffDecoder{values: hs.values}
	code, k := int32(0), int32(0)
	for l := 1; l <= maxCodeLen; l++ {
		n := int32(hs.counts[l])
		d.valptr[l] = k
		d.mincode[l] = code
		if n == 0 {
			d.maxcode[l] = -1
		} else {
			code += n
			k += n
			d.maxcode[l] = code - 1
			if code > 1<<l {
				return nil, fmt.Errorf("too many codes of length %d (the counts over-fill the code space)", l)
			}
			// Fill the lookup table for short codes.
			if l <= fastBits {
				for c := d.mincode[l]; c < code; c++ {
					sym := hs.values[d.valptr[l]+c-d.mincode[l]]
					lo := int(c) << (fastBits - l)
					hi := int(c+1) << (fastBits - l)
					for i := lo; i < hi; i++ {
						d.fast[i] = uint16(sym)<<8 | uint16(l)
					}
				}
			}
		}
		code <<= 1
	}
	d.maxcode[maxCodeLen+1] = 1 << 30
	return d, nil
}

// bitWriter packs codes MSB first, inserting a zero byte after every 0xFF
// so the entropy-coded data never looks like a marker (spec §B.3).
type bitWriter struct {
	out []byte
	acc uint64
	n   uint
}

func (w *bitWriter) write(code uint32, size uint) {
	w.acc = w.acc<<size | uint64(code)&(1<<size-1)
	w.n += size
	for w.n >= 8 {
		w.n -= 8
		b := byte(w.acc >> w.n)
		w.out = append(w.out, b)
		if b == 0xFF {
			w.out = append(w.out, 0)
		}
	}
}

// flush pads the last byte with 1 bits.
func (w *bitWriter) flush() {
	if w.n > 0 {
		w.write(1<<(8-w.n)-1, 8-w.n)
	}
	w.acc, w.n = 0, 0
}
