package iso19794

import (
	"encoding/binary"
	"fmt"
)

// Face record constants (ISO/IEC 19794-5:2011 §5.4, Table 2).
var (
	FaceFormatID = [4]byte{'F', 'A', 'C', 0}
	FaceVersion  = [4]byte{'0', '3', '0', 0}
)

// Face image data types (ISO/IEC 19794-5:2011 Table 17).
const (
	FaceJPEG             = 0
	FaceJPEG2000Lossy    = 1
	FaceJPEG2000Lossless = 2
	FacePNG              = 3
)

// Face image types (ISO/IEC 19794-5:2011 Table 16); the 3D types (0x80+)
// are not supported.
const (
	FaceTypeBasic        = 0
	FaceTypeFullFrontal  = 1
	FaceTypeTokenFrontal = 2
	FaceTypePostProc     = 3
)

// Image colour spaces (ISO/IEC 19794-5:2011 Table 21).
const (
	ColourUnspecified = 0
	ColourRGB24       = 1
	ColourYUV422      = 2
	ColourGray8       = 3
	ColourOther       = 4
)

const (
	faceHeaderLen = 17 // 4+4+4+2+1+2
	// Representation: length 4, date 9, technology 1, vendor 2, type 2,
	// quality count 1, facial information 17, image information 11.
	faceRepFixed = 4 + 9 + 1 + 2 + 2 + 1 + 17 + 11
	landmarkLen  = 8
)

// Landmark is one landmark point (ISO/IEC 19794-5:2011 §5.6.3).
type Landmark struct {
	Type, Code uint8
	X, Y, Z    uint16
}

// FaceRepresentation is one face image with its header.
type FaceRepresentation struct {
	Captured         DateTime
	DeviceTechnology uint8 // Table 5: 0 unknown, 2 digital still, ...
	DeviceVendor     uint16
	DeviceType       uint16
	Quality          []QualityBlock
	// Facial information block (§5.5).
	Gender, EyeColour, HairColour uint8
	SubjectHeight                 uint8
	PropertyMask                  uint32 // 24 bits
	Expression                    uint16
	Pose, PoseUncertainty         [3]uint8 // yaw, pitch, roll
	Landmarks                     []Landmark
	// Image information block (§5.7).
	FaceImageType            uint8
	ImageDataType            uint8
	Width, Height            uint16
	SpatialSamplingRateLevel uint8
	PostAcquisition          uint16
	CrossReference           uint8
	ColourSpace              uint8
	Image                    []byte
}

// FaceRecord is a whole face image record.
type FaceRecord struct {
	TemporalSemantics uint16
	Representations   []FaceRepresentation
}

// Encode writes the record. The certification flag is always 0: ISO/IEC
// 19794-5:2011 defines no certification blocks.
func (r *FaceRecord) Encode() ([]byte, error) {
	if len(r.Representations) == 0 || len(r.Representations) > 0xFFFF {
		return nil, fmt.Errorf("iso19794-5: %d representations, want 1..65535", len(r.Representations))
	}
	var body []byte
	for i, rep := range r.Representations {
		b, err := rep.encode()
		if err != nil {
			return nil, fmt.Errorf("iso19794-5: representation %d: %w", i+1, err)
		}
		body = append(body, b...)
	}
	total := faceHeaderLen + len(body)
	if uint64(total) > 0xFFFFFFFF {
		return nil, fmt.Errorf("iso19794-5: record of %d bytes is too long", total)
	}
	out := make([]byte, 0, total)
	out = append(out, FaceFormatID[:]...)
	out = append(out, FaceVersion[:]...)
	out = binary.BigEndian.AppendUint32(out, uint32(total))
	out = binary.BigEndian.AppendUint16(out, uint16(len(r.Representations)))
	out = append(out, 0)
	out = binary.BigEndian.AppendUint16(out, r.TemporalSemantics)
	return append(out, body...), nil
}

func (rep *FaceRepresentation) encode() ([]byte, error) {
	if !rep.Captured.valid() {
		return nil, fmt.Errorf("capture time %+v invalid", rep.Captured)
	}
	if rep.ImageDataType > FacePNG {
		return nil, fmt.Errorf("image data type %d unknown", rep.ImageDataType)
	}
	if rep.FaceImageType > FaceTypePostProc {
		return nil, fmt.Errorf("face image type %d not supported (2D types 0-3 only)", rep.FaceImageType)
	}
	if rep.PropertyMask > 0xFFFFFF {
		return nil, fmt.Errorf("property mask %#x exceeds 24 bits", rep.PropertyMask)
	}
	if len(rep.Landmarks) > 0xFFFF {
		return nil, fmt.Errorf("too many landmarks")
	}
	if rep.Width == 0 || rep.Height == 0 || len(rep.Image) == 0 {
		return nil, fmt.Errorf("empty image")
	}
	b := make([]byte, 4, faceRepFixed+5*len(rep.Quality)+landmarkLen*len(rep.Landmarks)+len(rep.Image))
	b = putDateTime(b, rep.Captured)
	b = append(b, rep.DeviceTechnology)
	b = binary.BigEndian.AppendUint16(b, rep.DeviceVendor)
	b = binary.BigEndian.AppendUint16(b, rep.DeviceType)
	b, err := putQuality(b, rep.Quality)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(rep.Landmarks)))
	b = append(b, rep.Gender, rep.EyeColour, rep.HairColour, rep.SubjectHeight,
		byte(rep.PropertyMask>>16), byte(rep.PropertyMask>>8), byte(rep.PropertyMask))
	b = binary.BigEndian.AppendUint16(b, rep.Expression)
	b = append(b, rep.Pose[:]...)
	b = append(b, rep.PoseUncertainty[:]...)
	for _, l := range rep.Landmarks {
		b = append(b, l.Type, l.Code)
		b = binary.BigEndian.AppendUint16(b, l.X)
		b = binary.BigEndian.AppendUint16(b, l.Y)
		b = binary.BigEndian.AppendUint16(b, l.Z)
	}
	b = append(b, rep.FaceImageType, rep.ImageDataType)
	b = binary.BigEndian.AppendUint16(b, rep.Width)
	b = binary.BigEndian.AppendUint16(b, rep.Height)
	b = append(b, rep.SpatialSamplingRateLevel)
	b = binary.BigEndian.AppendUint16(b, rep.PostAcquisition)
	b = append(b, rep.CrossReference, rep.ColourSpace)
	b = append(b, rep.Image...)
	return sealRepresentation(b)
}

// ParseFace reads a face image record. The image data of a representation
// is whatever its length leaves after the headers (§5.8).
func ParseFace(b []byte) (*FaceRecord, error) {
	c := &cursor{b: b, format: "19794-5"}
	c.header(FaceFormatID, FaceVersion, "ISO/IEC 19794-5:2011")
	n := int(c.u16("number of representations"))
	cert := c.u8("certification flag")
	temporal := c.u16("temporal semantics")
	if c.err != nil {
		return nil, c.err
	}
	if n == 0 {
		c.pos = 12
		c.fail("number of representations", "zero")
		return nil, c.err
	}
	if cert != 0 {
		c.pos = 14
		c.fail("certification flag", "%d, want 0 (19794-5:2011 has no certification blocks)", cert)
		return nil, c.err
	}
	r := &FaceRecord{TemporalSemantics: temporal}
	for i := 1; i <= n; i++ {
		c.rep = i
		start := c.pos
		replen := int(c.u32("representation length"))
		if c.err == nil && (replen < faceRepFixed || replen > len(b)-start) {
			c.pos = start
			c.fail("representation length", "%d does not fit (minimum %d, %d bytes left)", replen, faceRepFixed, len(b)-start)
		}
		if c.err != nil {
			return nil, c.err
		}
		end := start + replen
		sub := &cursor{b: b[:end], pos: c.pos, format: c.format, rep: i}
		var rep FaceRepresentation
		rep.Captured = sub.dateTime()
		rep.DeviceTechnology = sub.u8("capture device technology")
		rep.DeviceVendor = sub.u16("capture device vendor")
		rep.DeviceType = sub.u16("capture device type")
		rep.Quality = sub.quality()
		nl := int(sub.u16("number of landmark points"))
		rep.Gender = sub.u8("gender")
		rep.EyeColour = sub.u8("eye colour")
		rep.HairColour = sub.u8("hair colour")
		rep.SubjectHeight = sub.u8("subject height")
		rep.PropertyMask = sub.u24("property mask")
		rep.Expression = sub.u16("expression")
		copy(rep.Pose[:], sub.bytes(3, "pose angle"))
		copy(rep.PoseUncertainty[:], sub.bytes(3, "pose angle uncertainty"))
		if sub.need(landmarkLen*nl, "landmark points") {
			for k := 0; k < nl; k++ {
				rep.Landmarks = append(rep.Landmarks, Landmark{sub.u8("landmark type"), sub.u8("landmark code"),
					sub.u16("landmark x"), sub.u16("landmark y"), sub.u16("landmark z")})
			}
		}
		p := sub.pos
		rep.FaceImageType = sub.u8("face image type")
		if sub.err == nil && rep.FaceImageType > FaceTypePostProc {
			sub.pos = p
			sub.fail("face image type", "%d not supported (2D types 0-3 only)", rep.FaceImageType)
		}
		p = sub.pos
		rep.ImageDataType = sub.u8("image data type")
		if sub.err == nil && rep.ImageDataType > FacePNG {
			sub.pos = p
			sub.fail("image data type", "%d unknown (Table 17)", rep.ImageDataType)
		}
		rep.Width = sub.u16("width")
		rep.Height = sub.u16("height")
		rep.SpatialSamplingRateLevel = sub.u8("spatial sampling rate level")
		rep.PostAcquisition = sub.u16("post-acquisition processing")
		rep.CrossReference = sub.u8("cross reference")
		rep.ColourSpace = sub.u8("image colour space")
		if sub.err == nil && (end-sub.pos == 0 || rep.Width == 0 || rep.Height == 0) {
			sub.fail("image data", "empty image (%dx%d, %d bytes)", rep.Width, rep.Height, end-sub.pos)
		}
		if sub.err != nil {
			return nil, sub.err
		}
		rep.Image = b[sub.pos:end:end]
		r.Representations = append(r.Representations, rep)
		c.pos = end
	}
	if c.pos != len(b) {
		c.rep = 0
		c.fail("record length", "%d bytes after the last representation", len(b)-c.pos)
		return nil, c.err
	}
	return r, nil
}
