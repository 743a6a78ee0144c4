package packet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strconv"
	"time"

	"github.com/openenroll/stationd/station/packet/ansinist"
	"github.com/openenroll/stationd/station/packet/iso19794"
)

// Compression is how finger images are stored in the records.
type Compression string

// Finger compressions. The values are the ANSI/NIST-ITL CGA codes.
const (
	CompressionPNG  Compression = ansinist.CompressionPNG  // lossless, the default
	CompressionWSQ  Compression = ansinist.CompressionWSQ  // WSQ v3.1, needs Options.WSQEncode
	CompressionNone Compression = ansinist.CompressionNone // raw 8-bit rows
)

// isoCompression maps a CGA code to ISO/IEC 19794-4:2011 Table 9.
func isoCompression(c Compression) uint8 {
	switch c {
	case CompressionWSQ:
		return iso19794.FingerWSQ
	case CompressionNone:
		return iso19794.FingerUncompressed
	}
	return iso19794.FingerPNG
}

// Type-2 fields of our domain (ANSI/NIST-ITL 1-2011 §8.2 leaves 2.003 and
// up to the receiving domain). Documented in doc.go.
const (
	t2ApplicantRef = 3
	t2SessionID    = 4
	t2OperatorID   = 5
	t2StationID    = 6
	t2Exceptions   = 7
	t2Card         = 8
)

// IDCs: Type-2 is 0, the face 1, fingers from 2 in position order.
const (
	idcType2     = 0
	idcFace      = 1
	idcFirstFing = 2
)

type encodedFinger struct {
	f    *Finger
	data []byte
	w, h int
}

type encodedSlap struct {
	s    *Slap
	m    SlapEntry // its manifest entry: the geometry the records carry
	data []byte
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// encodeFinger compresses one finger or slap image (what names it in
// errors) as opts say.
func encodeFinger(img *image.Gray, ppi int, what fmt.Stringer, opts *Options) ([]byte, error) {
	b := img.Bounds()
	switch opts.FingerCompression {
	case CompressionPNG:
		var buf bytes.Buffer
		enc := png.Encoder{CompressionLevel: opts.PNGLevel}
		if err := enc.Encode(&buf, img); err != nil {
			return nil, fmt.Errorf("packet: %s: PNG: %w", what, err)
		}
		return buf.Bytes(), nil
	case CompressionWSQ:
		if opts.WSQEncode == nil {
			return nil, fmt.Errorf("packet: WSQ compression configured but no WSQ encoder given (set Options.WSQEncode)")
		}
		d, err := opts.WSQEncode(img, ppi, opts.WSQBitrate)
		if err != nil {
			return nil, fmt.Errorf("packet: %s: WSQ: %w", what, err)
		}
		return d, nil
	case CompressionNone:
		out := make([]byte, 0, b.Dx()*b.Dy())
		for y := b.Min.Y; y < b.Max.Y; y++ {
			i := img.PixOffset(b.Min.X, y)
			out = append(out, img.Pix[i:i+b.Dx()]...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("packet: finger compression %q unknown (PNG, WSQ20 or NONE)", opts.FingerCompression)
}

// ansiScore maps our score to the ANSI/NIST FQM value (254 = not computed).
func ansiScore(q Quality) int {
	if q.Score < 0 {
		return ansinist.QualityNotComputed
	}
	return q.Score
}

// isoScore maps our score to an ISO quality block (255 = failed/none).
func isoScore(q Quality) uint8 {
	if q.Score < 0 {
		return iso19794.QualityFailed
	}
	return uint8(q.Score)
}

type faceInfo struct {
	w, h int
	gray bool
}

func inspectJPEG(b []byte) (faceInfo, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return faceInfo{}, fmt.Errorf("not a JPEG: %w", err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > 65535 || cfg.Height > 65535 {
		return faceInfo{}, fmt.Errorf("JPEG size %dx%d out of range", cfg.Width, cfg.Height)
	}
	return faceInfo{w: cfg.Width, h: cfg.Height, gray: cfg.ColorModel == color.GrayModel}, nil
}

func device(e *Enrollment, id string) DeviceInfo {
	for _, d := range e.Devices {
		if d.ID == id {
			return d
		}
	}
	return DeviceInfo{}
}

// records builds the ANSI/NIST transaction and the ISO records.
func records(e *Enrollment, fingers []encodedFinger, slaps []encodedSlap, face *faceInfo, opts *Options) (an2, fir, fac []byte, err error) {
	date := e.Finalized.UTC()
	ori := opts.ORI
	if ori == "" {
		ori = e.StationID
	}
	ppi := 0
	for _, f := range fingers {
		ppi = max(ppi, f.f.PPI)
	}
	for _, s := range slaps {
		ppi = max(ppi, s.s.PPI)
	}
	res := "00.00" // no fingerprint images: §8.1.11 says 00.00
	if ppi > 0 {
		res = ansinist.PPMM(ppi)
	}
	t1 := ansinist.Type1{TOT: opts.TOT, Date: date, DAI: opts.DAI, ORI: ori, TCN: e.SessionID,
		NSR: res, NTR: res, GMT: date}
	tx := &ansinist.Transaction{}
	add := func(r *ansinist.Record, err error) error {
		if err != nil {
			return err
		}
		tx.Records = append(tx.Records, r)
		return nil
	}
	if err := add(t1.Record()); err != nil {
		return nil, nil, nil, fmt.Errorf("packet: Type-1: %w", err)
	}
	t2 := ansinist.Type2{IDC: idcType2, Fields: []ansinist.UserField{
		{Num: t2ApplicantRef, Items: [][]string{{e.ApplicantRef}}},
		{Num: t2SessionID, Items: [][]string{{e.SessionID}}},
		{Num: t2OperatorID, Items: [][]string{{e.OperatorID}}},
		{Num: t2StationID, Items: [][]string{{e.StationID}}},
	}}
	var exc [][]string
	for _, f := range e.Fingers {
		if f.Exception != nil {
			exc = append(exc, []string{strconv.Itoa(int(f.Position)), f.Exception.Reason.ampCode(), string(f.Exception.Reason)})
		}
	}
	if len(exc) > 0 {
		t2.Fields = append(t2.Fields, ansinist.UserField{Num: t2Exceptions, Items: exc})
	}
	if e.Card != nil && e.Card.Mode != "" {
		ok := "FAIL"
		if e.Card.OK {
			ok = "OK"
		}
		t2.Fields = append(t2.Fields, ansinist.UserField{Num: t2Card, Items: [][]string{{e.Card.Mode, ok}}})
	}
	if err := add(t2.Record()); err != nil {
		return nil, nil, nil, fmt.Errorf("packet: Type-2: %w", err)
	}
	if face != nil {
		csp := "YCC"
		if face.gray {
			csp = "GRAY"
		}
		// A camera has no ppi: SLC 0 and THPS = TVPS = 1 give square
		// pixels (§8.10.8-10).
		t10 := ansinist.Type10{IDC: idcFace, IMT: "FACE", SRC: ori, PHD: captured(e.Face.Captured, e).UTC(),
			HLL: face.w, VLL: face.h, SLC: 0, THPS: 1, TVPS: 1, CGA: ansinist.CompressionJPEGB, CSP: csp,
			SAP: opts.FaceSAP, Data: e.Face.JPEG}
		if err := add(t10.Record()); err != nil {
			return nil, nil, nil, fmt.Errorf("packet: Type-10: %w", err)
		}
	}
	for i, ef := range fingers {
		f := ef.f
		imp := ansinist.ImpressionPlain
		if f.Rolled {
			imp = ansinist.ImpressionRolled
		}
		t14 := ansinist.Type14{IDC: idcFirstFing + i, IMP: imp, SRC: ori, FCD: captured(f.Captured, e).UTC(),
			HLL: ef.w, VLL: ef.h, SLC: ansinist.ScalePPI, THPS: f.PPI, TVPS: f.PPI,
			CGA: string(opts.FingerCompression), BPX: 8, FGP: []int{int(f.Position)},
			FQM: []ansinist.QualityMetric{{FGP: int(f.Position), Score: ansiScore(f.Quality),
				VendorID: opts.QualityVendorID, ProductCode: opts.QualityProductCode}},
			Data: ef.data}
		if err := add(t14.Record()); err != nil {
			return nil, nil, nil, fmt.Errorf("packet: Type-14 %s: %w", f.Position, err)
		}
	}
	// The slaps follow the single fingers, one Type-14 each with a SEG
	// subfield (field 14.021: inclusive pixel edges), an ASEG polygon (field
	// 14.025) where the outline is known, and an FQM subfield per finger
	// found on it.
	for j, es := range slaps {
		sl, me := es.s, es.m
		t14 := ansinist.Type14{IDC: idcFirstFing + len(fingers) + j, IMP: ansinist.ImpressionPlain, SRC: ori,
			FCD: captured(sl.Captured, e).UTC(), HLL: me.Width, VLL: me.Height, SLC: ansinist.ScalePPI, THPS: sl.PPI, TVPS: sl.PPI,
			CGA: string(opts.FingerCompression), BPX: 8, FGP: []int{int(sl.Position)}, Data: es.data}
		t14.SEG, t14.ASEG = me.segments()
		for _, g := range me.Segments {
			t14.FQM = append(t14.FQM, ansinist.QualityMetric{FGP: int(g.Position), Score: ansiScore(g.Quality),
				VendorID: opts.QualityVendorID, ProductCode: opts.QualityProductCode})
		}
		if err := add(t14.Record()); err != nil {
			return nil, nil, nil, fmt.Errorf("packet: Type-14 %s: %w", sl.Position, err)
		}
	}
	if an2, err = tx.Encode(); err != nil {
		return nil, nil, nil, fmt.Errorf("packet: %w", err)
	}
	if len(fingers) > 0 {
		rec := &iso19794.FingerRecord{}
		for _, ef := range fingers {
			f := ef.f
			dev := device(e, f.DeviceID)
			imp := uint8(0) // live-scan plain (ISO/IEC 19794-4:2011 Table 10)
			if f.Rolled {
				imp = 1
			}
			rec.Representations = append(rec.Representations, iso19794.FingerRepresentation{
				Captured:     iso19794.FromTime(captured(f.Captured, e)),
				DeviceVendor: dev.CBEFFVendor, DeviceType: dev.CBEFFType,
				Quality:  []iso19794.QualityBlock{{Score: isoScore(f.Quality), VendorID: opts.QualityVendorID, AlgorithmID: opts.QualityProductCode}},
				Position: uint8(f.Position), ScaleUnits: iso19794.ScalePPI,
				ScanH: uint16(f.PPI), ScanV: uint16(f.PPI), ImageH: uint16(f.PPI), ImageV: uint16(f.PPI),
				BitDepth: 8, Compression: isoCompression(opts.FingerCompression), Impression: imp,
				Width: uint16(ef.w), Height: uint16(ef.h), Image: ef.data,
			})
		}
		if fir, err = rec.Encode(); err != nil {
			return nil, nil, nil, fmt.Errorf("packet: %w", err)
		}
	}
	if face != nil {
		dev := device(e, e.Face.DeviceID)
		cs := uint8(iso19794.ColourRGB24)
		if face.gray {
			cs = iso19794.ColourGray8
		}
		rec := &iso19794.FaceRecord{Representations: []iso19794.FaceRepresentation{{
			Captured:     iso19794.FromTime(captured(e.Face.Captured, e)),
			DeviceVendor: dev.CBEFFVendor, DeviceType: dev.CBEFFType,
			Quality:       []iso19794.QualityBlock{{Score: isoScore(e.Face.Quality), VendorID: opts.QualityVendorID, AlgorithmID: opts.QualityProductCode}},
			FaceImageType: iso19794.FaceTypeBasic, ImageDataType: iso19794.FaceJPEG,
			Width: uint16(face.w), Height: uint16(face.h), ColourSpace: cs, Image: e.Face.JPEG,
		}}}
		if fac, err = rec.Encode(); err != nil {
			return nil, nil, nil, fmt.Errorf("packet: %w", err)
		}
	}
	return an2, fir, fac, nil
}

// captured falls back to the finalize time when a capture time is missing.
func captured(t time.Time, e *Enrollment) time.Time {
	if !t.IsZero() {
		return t
	}
	return e.Finalized
}

func imageSize(img *image.Gray) (int, int) {
	b := img.Bounds()
	return b.Dx(), b.Dy()
}
