package lds

import (
	"encoding/binary"
	"fmt"
)

// Face is one facial image of DG2 with the ISO/IEC 19794-5 header fields
// the station uses.
type Face struct {
	Gender        byte   // 0 unspecified, 1 male, 2 female, 3 unknown
	ImageDataType byte   // 0 JPEG, 1 JPEG 2000
	Width, Height uint16 // pixels
	Image         []byte // the encoded image
}

// Image data types of ISO/IEC 19794-5:2005 §5.7.2.
const (
	ImageJPEG     = 0
	ImageJPEG2000 = 1
)

// ISO/IEC 19794-5:2005 §5.4-5.7 sizes.
const (
	faceGeneralHeader = 14 // "FAC\0", "010\0", record length (4), number of faces (2)
	faceInfoBlock     = 20 // block length (4) ... pose uncertainty (3)
	faceFeaturePoint  = 8
	faceImageInfo     = 12 // type, data type, width, height, colour space, source, device (2), quality (2)
)

// encodeFaceRecord builds an ISO/IEC 19794-5:2005 record with one full
// frontal image and no feature points.
func encodeFaceRecord(f Face) []byte {
	block := faceInfoBlock + faceImageInfo + len(f.Image)
	total := faceGeneralHeader + block
	b := make([]byte, 0, total)
	b = append(b, 'F', 'A', 'C', 0, '0', '1', '0', 0)
	b = binary.BigEndian.AppendUint32(b, uint32(total))
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, uint32(block))
	b = binary.BigEndian.AppendUint16(b, 0) // feature points
	b = append(b, f.Gender, 0, 0)           // gender, eye colour, hair colour unspecified
	b = append(b, 0, 0, 0)                  // feature mask
	b = append(b, 0, 0)                     // expression unspecified
	b = append(b, 0, 0, 0, 0, 0, 0)         // pose angles and uncertainties
	b = append(b, 1, f.ImageDataType)       // full frontal (§5.7.1), data type
	b = binary.BigEndian.AppendUint16(b, f.Width)
	b = binary.BigEndian.AppendUint16(b, f.Height)
	b = append(b, 1, 2)       // colour space sRGB, source: digital still camera (§5.7.4-5)
	b = append(b, 0, 0, 0, 0) // device type, quality unspecified
	return append(b, f.Image...)
}

func parseFaceRecord(b []byte, base int) (Face, error) {
	if len(b) < faceGeneralHeader+faceInfoBlock+faceImageInfo {
		return Face{}, fmt.Errorf("offset %d: ISO 19794-5 record of %d bytes is too short", base, len(b))
	}
	if string(b[0:4]) != "FAC\x00" {
		return Face{}, fmt.Errorf("offset %d: ISO 19794-5 record does not start with FAC", base)
	}
	total := binary.BigEndian.Uint32(b[8:12])
	if int64(total) != int64(len(b)) {
		return Face{}, fmt.Errorf("offset %d: ISO 19794-5 record length field %d, data object holds %d", base, total, len(b))
	}
	if binary.BigEndian.Uint16(b[12:14]) == 0 {
		return Face{}, fmt.Errorf("offset %d: ISO 19794-5 record has no face", base)
	}
	p := b[faceGeneralHeader:]
	block := binary.BigEndian.Uint32(p[0:4])
	nfp := int(binary.BigEndian.Uint16(p[4:6]))
	hdr := faceInfoBlock + nfp*faceFeaturePoint + faceImageInfo
	if int64(block) > int64(len(p)) || int(block) < hdr {
		return Face{}, fmt.Errorf("offset %d: ISO 19794-5 facial block length %d inconsistent (%d bytes left, header %d)", base+14, block, len(p), hdr)
	}
	f := Face{Gender: p[6]}
	ii := p[faceInfoBlock+nfp*faceFeaturePoint:]
	f.ImageDataType = ii[1]
	f.Width = binary.BigEndian.Uint16(ii[2:4])
	f.Height = binary.BigEndian.Uint16(ii[4:6])
	f.Image = p[hdr:block]
	return f, nil
}

// EncodeDG2 builds DG2 with one biometric information template holding
// the face (ICAO 9303 p10 §4.7.2): 75 { 7F61 { 02 count, 7F60 { A1 BHT,
// 5F2E record } } }.
func EncodeDG2(f Face) []byte {
	bht := EncodeTLV(0xA1, cat(
		EncodeTLV(0x80, []byte{0x01, 0x01}), // ICAO header version 1.1
		EncodeTLV(0x87, []byte{0x01, 0x01}), // format owner: ISO/IEC JTC 1/SC 37
		EncodeTLV(0x88, []byte{0x00, 0x08}), // format type: face image (19794-5)
	))
	bit := EncodeTLV(0x7F60, cat(bht, EncodeTLV(0x5F2E, encodeFaceRecord(f))))
	return EncodeTLV(0x75, EncodeTLV(0x7F61, cat(EncodeTLV(0x02, []byte{1}), bit)))
}

// ParseDG2 reads every face in DG2.
func ParseDG2(b []byte) ([]Face, error) {
	f, err := parseFile(b, 0x75, "DG2")
	if err != nil {
		return nil, err
	}
	kids, err := f.Children()
	if err != nil {
		return nil, fmt.Errorf("DG2: %w", err)
	}
	grp, ok := Find(kids, 0x7F61)
	if !ok {
		return nil, fmt.Errorf("DG2: biometric information group template 7F61 missing")
	}
	items, err := grp.Children()
	if err != nil {
		return nil, fmt.Errorf("DG2: %w", err)
	}
	cnt, ok := Find(items, 0x02)
	if !ok || len(cnt.Value) != 1 {
		return nil, fmt.Errorf("DG2: instance count 02 missing or malformed")
	}
	var faces []Face
	for _, it := range items {
		if it.Tag != 0x7F60 {
			continue
		}
		parts, err := it.Children()
		if err != nil {
			return nil, fmt.Errorf("DG2: %w", err)
		}
		data, ok := Find(parts, 0x5F2E)
		if !ok {
			data, ok = Find(parts, 0x7F2E)
		}
		if !ok {
			return nil, fmt.Errorf("DG2 offset %d: biometric data block 5F2E missing", it.Offset)
		}
		face, err := parseFaceRecord(data.Value, valueOffset(data))
		if err != nil {
			return nil, fmt.Errorf("DG2: %w", err)
		}
		faces = append(faces, face)
	}
	if len(faces) != int(cnt.Value[0]) {
		return nil, fmt.Errorf("DG2: count says %d faces, found %d", cnt.Value[0], len(faces))
	}
	return faces, nil
}
