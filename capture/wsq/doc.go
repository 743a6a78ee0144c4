// Package wsq encodes and decodes gray-scale fingerprint images in the FBI's
// Wavelet Scalar Quantization format ("WSQ Gray-scale Fingerprint Image
// Compression Specification", IAFIS-IC-0110, version 3.1), the compression
// that ANSI/NIST-ITL Type-14 records call WSQ20 and ISO/IEC 19794-4 calls WSQ.
//
// The codec is written from the specification:
//
//   - a 9/7 biorthogonal filter bank with whole-sample symmetric extension at
//     both ends of every line (spec Part 1 §A), applied as a fixed tree of 20
//     two-dimensional splits that yields the 64-subband decomposition of
//     spec Figure A.2 (subbands 60-63 are never transmitted);
//   - per-subband variances and the FBI encoder #1 bit allocation (spec
//     Part 3) that chooses quantizer bin widths Q_k for a target bit rate,
//     with zero bins Z_k = 1.2 Q_k and reconstruction offset C = 0.44.
//     Encode uses these widths as they are: as with the FBI's encoder, the
//     rate then sets the distortion rather than the size, and files come
//     out smaller than the rate says (about 15:1 instead of 10.7:1 at
//     0.75 bpp; sharp, near-binary prints smaller still). EncodeFixedRate
//     keeps the allocation's proportions but scales every Q_k (and Z_k) by
//     one factor, found in a few quantization passes that sum the Huffman
//     code lengths of the symbol counts, so the file lands within a few
//     percent of rate × pixels / 8 bytes; the DQT carries the scaled
//     widths, so any WSQ decoder reads it;
//   - the spec's Huffman coding: run-length and escape categories, canonical
//     codes limited to 16 bits, blocks introduced by SOB markers, and the
//     table/frame markers SOI, SOF, SOB, DTT, DQT, DHT, DRT, COM and EOI;
//   - a NISTCOM comment that carries the image's resolution (PPI).
//
// The decoder reads everything this encoder writes and what the
// specification lets other encoders write: tables in any order before the
// data, several Huffman tables in one DHT segment, any number of blocks,
// comments anywhere between segments, restart markers, and any
// perfect-reconstruction filter pair in the DTT: odd-length (whole-sample
// symmetric, like the 9/7) or even-length (half-sample symmetric lowpass,
// antisymmetric highpass). Every size the decoder allocates is bounded by
// the frame header (at most MaxPixels pixels) and by the input length.
//
// The package is pure computation: no I/O of its own, no goroutines.
package wsq
