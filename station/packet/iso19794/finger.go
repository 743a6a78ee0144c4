package iso19794

import (
	"encoding/binary"
	"fmt"
)

// Finger record constants (ISO/IEC 19794-4:2011 §8.2, Table 2).
var (
	FingerFormatID = [4]byte{'F', 'I', 'R', 0}
	FingerVersion  = [4]byte{'0', '2', '0', 0}
)

// Finger image compression codes (ISO/IEC 19794-4:2011 Table 9).
const (
	FingerUncompressed       = 0
	FingerUncompressedPacked = 1
	FingerWSQ                = 2
	FingerJPEG               = 3
	FingerJPEG2000Lossy      = 4
	FingerJPEG2000Lossless   = 5
	FingerPNG                = 6
)

// Scale units (ISO/IEC 19794-4:2011 §8.3.8): 1 pixels per inch, 2 per cm.
const (
	ScalePPI = 1
	ScalePPC = 2
)

const (
	fingerHeaderLen = 16 // 4+4+4+2+1+1, Table 2
	// Fixed part of a representation header: length 4, date 9, technology
	// 1, vendor 2, type 2, quality count 1, then after quality (and
	// certification) blocks: position 1, number 1, scale 1, 4 rates ×2,
	// depth 1, compression 1, impression 1, width 2, height 2 (Table 4);
	// then image data length 4.
	fingerRepFixed = 4 + 9 + 1 + 2 + 2 + 1 + 1 + 1 + 1 + 8 + 1 + 1 + 1 + 2 + 2 + 4
)

// CertificationBlock names a certification of the capture device
// (ISO/IEC 19794-4:2011 §8.3.5).
type CertificationBlock struct {
	AuthorityID uint16
	SchemeID    uint8
}

// FingerRepresentation is one finger image with its header.
type FingerRepresentation struct {
	Captured         DateTime
	DeviceTechnology uint8 // Table 5: 0 unknown, 1 white light optical TIR, ...
	DeviceVendor     uint16
	DeviceType       uint16
	Quality          []QualityBlock
	Certifications   []CertificationBlock // only when the record's flag is set
	Position         uint8                // finger position, ANSI/NIST codes 0-10 and beyond
	Number           uint8                // representation number
	ScaleUnits       uint8
	ScanH, ScanV     uint16 // capture device spatial sampling rate
	ImageH, ImageV   uint16 // image spatial sampling rate
	BitDepth         uint8
	Compression      uint8
	Impression       uint8 // 0 live-scan plain, 1 live-scan rolled, ...
	Width, Height    uint16
	Image            []byte
	// Extended holds any extended data blocks after the image, kept as
	// bytes (ISO/IEC 19794-4:2011 §8.4); this package does not write any.
	Extended []byte
}

// FingerRecord is a whole finger image record.
type FingerRecord struct {
	Certified       bool // certification flag: certification blocks present
	Representations []FingerRepresentation
}

// Encode writes the record.
func (r *FingerRecord) Encode() ([]byte, error) {
	if len(r.Representations) == 0 || len(r.Representations) > 0xFFFF {
		return nil, fmt.Errorf("iso19794-4: %d representations, want 1..65535", len(r.Representations))
	}
	positions := map[uint8]bool{}
	var body []byte
	for i, rep := range r.Representations {
		b, err := rep.encode(r.Certified)
		if err != nil {
			return nil, fmt.Errorf("iso19794-4: representation %d: %w", i+1, err)
		}
		body = append(body, b...)
		positions[rep.Position] = true
	}
	total := fingerHeaderLen + len(body)
	if uint64(total) > 0xFFFFFFFF {
		return nil, fmt.Errorf("iso19794-4: record of %d bytes is too long", total)
	}
	out := make([]byte, 0, total)
	out = append(out, FingerFormatID[:]...)
	out = append(out, FingerVersion[:]...)
	out = binary.BigEndian.AppendUint32(out, uint32(total))
	out = binary.BigEndian.AppendUint16(out, uint16(len(r.Representations)))
	cert := uint8(0)
	if r.Certified {
		cert = 1
	}
	out = append(out, cert, uint8(len(positions)))
	return append(out, body...), nil
}

func (rep *FingerRepresentation) encode(certified bool) ([]byte, error) {
	if !rep.Captured.valid() {
		return nil, fmt.Errorf("capture time %+v invalid", rep.Captured)
	}
	if rep.Compression > FingerPNG {
		return nil, fmt.Errorf("compression code %d unknown", rep.Compression)
	}
	if rep.ScaleUnits != ScalePPI && rep.ScaleUnits != ScalePPC {
		return nil, fmt.Errorf("scale units %d, want 1 (ppi) or 2 (ppcm)", rep.ScaleUnits)
	}
	if rep.Width == 0 || rep.Height == 0 || len(rep.Image) == 0 {
		return nil, fmt.Errorf("empty image")
	}
	if !certified && len(rep.Certifications) > 0 {
		return nil, fmt.Errorf("certification blocks given but the record's certification flag is off")
	}
	b := make([]byte, 4, fingerRepFixed+5*len(rep.Quality)+len(rep.Image)+len(rep.Extended)+16)
	b = putDateTime(b, rep.Captured)
	b = append(b, rep.DeviceTechnology)
	b = binary.BigEndian.AppendUint16(b, rep.DeviceVendor)
	b = binary.BigEndian.AppendUint16(b, rep.DeviceType)
	b, err := putQuality(b, rep.Quality)
	if err != nil {
		return nil, err
	}
	if certified {
		if len(rep.Certifications) > 255 {
			return nil, fmt.Errorf("too many certification blocks")
		}
		b = append(b, uint8(len(rep.Certifications)))
		for _, c := range rep.Certifications {
			b = binary.BigEndian.AppendUint16(b, c.AuthorityID)
			b = append(b, c.SchemeID)
		}
	}
	b = append(b, rep.Position, rep.Number, rep.ScaleUnits)
	for _, v := range []uint16{rep.ScanH, rep.ScanV, rep.ImageH, rep.ImageV} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	b = append(b, rep.BitDepth, rep.Compression, rep.Impression)
	b = binary.BigEndian.AppendUint16(b, rep.Width)
	b = binary.BigEndian.AppendUint16(b, rep.Height)
	b = binary.BigEndian.AppendUint32(b, uint32(len(rep.Image)))
	b = append(b, rep.Image...)
	b = append(b, rep.Extended...)
	return sealRepresentation(b)
}

// ParseFinger reads a finger image record and checks its lengths, codes and
// the count of distinct finger positions.
func ParseFinger(b []byte) (*FingerRecord, error) {
	c := &cursor{b: b, format: "19794-4"}
	c.header(FingerFormatID, FingerVersion, "ISO/IEC 19794-4:2011")
	n := int(c.u16("number of representations"))
	cert := c.u8("certification flag")
	npos := int(c.u8("number of finger positions"))
	if c.err != nil {
		return nil, c.err
	}
	if n == 0 {
		c.pos = 12
		c.fail("number of representations", "zero")
		return nil, c.err
	}
	if cert > 1 {
		c.pos = 14
		c.fail("certification flag", "%d, want 0 or 1", cert)
		return nil, c.err
	}
	r := &FingerRecord{Certified: cert == 1}
	positions := map[uint8]bool{}
	for i := 1; i <= n; i++ {
		c.rep = i
		start := c.pos
		replen := int(c.u32("representation length"))
		if c.err == nil && (replen < fingerRepFixed || replen > len(b)-start) {
			c.pos = start
			c.fail("representation length", "%d does not fit (minimum %d, %d bytes left)", replen, fingerRepFixed, len(b)-start)
		}
		if c.err != nil {
			return nil, c.err
		}
		end := start + replen
		sub := &cursor{b: b[:end], pos: c.pos, format: c.format, rep: i}
		var rep FingerRepresentation
		rep.Captured = sub.dateTime()
		rep.DeviceTechnology = sub.u8("capture device technology")
		rep.DeviceVendor = sub.u16("capture device vendor")
		rep.DeviceType = sub.u16("capture device type")
		rep.Quality = sub.quality()
		if r.Certified {
			nc := int(sub.u8("number of certification blocks"))
			if sub.need(3*nc, "certification blocks") {
				for k := 0; k < nc; k++ {
					rep.Certifications = append(rep.Certifications, CertificationBlock{sub.u16("certification authority"), sub.u8("certification scheme")})
				}
			}
		}
		rep.Position = sub.u8("finger position")
		rep.Number = sub.u8("representation number")
		p := sub.pos
		rep.ScaleUnits = sub.u8("scale units")
		if sub.err == nil && rep.ScaleUnits != ScalePPI && rep.ScaleUnits != ScalePPC {
			sub.pos = p
			sub.fail("scale units", "%d, want 1 (ppi) or 2 (ppcm)", rep.ScaleUnits)
		}
		rep.ScanH = sub.u16("capture horizontal sampling rate")
		rep.ScanV = sub.u16("capture vertical sampling rate")
		rep.ImageH = sub.u16("image horizontal sampling rate")
		rep.ImageV = sub.u16("image vertical sampling rate")
		rep.BitDepth = sub.u8("bit depth")
		p = sub.pos
		rep.Compression = sub.u8("compression algorithm")
		if sub.err == nil && rep.Compression > FingerPNG {
			sub.pos = p
			sub.fail("compression algorithm", "code %d unknown (Table 9)", rep.Compression)
		}
		rep.Impression = sub.u8("impression type")
		rep.Width = sub.u16("horizontal line length")
		rep.Height = sub.u16("vertical line length")
		p = sub.pos
		ilen := sub.u32("image data length")
		if sub.err == nil && uint64(ilen) > uint64(end-sub.pos) {
			sub.pos = p
			sub.fail("image data length", "%d runs past the representation's end (%d bytes left)", ilen, end-sub.pos-4)
		}
		if sub.err == nil && (ilen == 0 || rep.Width == 0 || rep.Height == 0) {
			sub.pos = p
			sub.fail("image data length", "empty image (%dx%d, %d bytes)", rep.Width, rep.Height, ilen)
		}
		rep.Image = sub.bytes(int(ilen), "image data")
		if sub.err != nil {
			return nil, sub.err
		}
		if sub.pos < end {
			rep.Extended = b[sub.pos:end:end]
		}
		positions[rep.Position] = true
		r.Representations = append(r.Representations, rep)
		c.pos = end
	}
	if c.pos != len(b) {
		c.rep = 0
		c.fail("record length", "%d bytes after the last representation", len(b)-c.pos)
		return nil, c.err
	}
	if npos != len(positions) {
		c.rep, c.pos = 0, 15
		c.fail("number of finger positions", "header says %d, representations hold %d", npos, len(positions))
		return nil, c.err
	}
	return r, nil
}
