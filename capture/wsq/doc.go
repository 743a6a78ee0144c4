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
//   - an optional allocation for the least squared error per byte
//     (AllocMSE, EncodeMSE): bin widths equalised by the synthesis gains
//     of the 9/7 tree or the FBI proportions, whichever leaves less error
//     at the budget, a wider zero bin for the former, and C fitted to the
//     image; the rate is a ceiling. At the same size it gains 0.2-0.45 dB
//     of PSNR over the FBI allocation on prints below 1 bpp (mse.go).
//     The FBI allocation stays the default: it is what FBI-certified
//     encoders do, its 0.75 bpp means the distortion level AFIS
//     operators expect (about 15:1 on real prints), and its weights were
//     chosen for matching, which PSNR does not measure;
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
//
// The project's goal of ratio ≥ 12 with PSNR ≥ 30 dB holds for synthetic
// prints as a scanner's optics deliver them (slightly blurred, with
// sensor noise). It cannot hold for synthfinger's unblurred, almost
// binary GoodImpression: at 12:1 even an idealised allocation with ideal
// entropy coding stays under 30 dB (TestSharpPrintBound: 29.4 dB for one
// finger, 26.6 dB for another; choosing indices other than the nearest
// bin adds about 0.15 dB, TestSharpPrintRDOQ). EncodeMSE reaches 28.7 and
// 25.9 dB, the FBI allocation 28.4 and 25.7 at the same size; 30 dB takes
// 9.6:1 and 5.9:1. Ink-card scans of real fingers give 26-29 dB at 12:1
// as well.
package wsq
