package packet

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"slices"
	"strconv"

	"github.com/openenroll/stationd/capture/wsq"
	"github.com/openenroll/stationd/station/packet/ansinist"
	"github.com/openenroll/stationd/station/packet/iso19794"
)

// Records are the parsed biometric records of an opened packet.
type Records struct {
	Transaction *ansinist.Decoded
	Fingers     *iso19794.FingerRecord // nil when every finger is an exception
	Face        *iso19794.FaceRecord   // nil without a face
}

// checkRecords parses the ANSI/NIST transaction and ISO records back and
// checks each against the signed manifest: the same fingers in the same
// order, sizes, resolutions, compression, quality and image hashes.
func checkRecords(m *Manifest, c *Contents) (*Records, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRecords, fmt.Sprintf(format, args...))
	}
	// Item names are fixed by this format, so a receiver may use them as
	// file names: anything else (a path, say) is refused here.
	photos := map[string]bool{}
	for _, it := range c.Items {
		want, ok := itemMediaType(it.Name)
		if !ok {
			return nil, bad("item name %q is not one this format defines", it.Name)
		}
		if it.MediaType != want {
			return nil, bad("item %q has media type %q, want %q", it.Name, it.MediaType, want)
		}
		if want == MediaJPEG {
			photos[it.Name] = false
		}
	}
	var captured []FingerEntry
	exceptions := map[int]FingerEntry{}
	positions := map[FingerPosition]bool{}
	for _, f := range m.Fingers {
		if f.Position < 1 || f.Position > 10 || positions[f.Position] {
			return nil, bad("finger position %d out of range or listed twice", f.Position)
		}
		positions[f.Position] = true
		switch f.Status {
		case StatusCaptured:
			if f.Quality == nil {
				return nil, bad("%s: captured without a quality entry", f.Position)
			}
			captured = append(captured, f)
		case StatusException:
			if f.Exception == nil {
				return nil, bad("%s: exception without a reason", f.Position)
			}
			if f.Exception.PhotoItem != "" {
				ph, ok := c.Item(f.Exception.PhotoItem)
				if !ok || f.Exception.PhotoItem != photoItemName(f.Position) {
					return nil, bad("%s: exception photo %q missing or misnamed", f.Position, f.Exception.PhotoItem)
				}
				if _, err := inspectJPEG(ph); err != nil {
					return nil, bad("%s: exception photo: %v", f.Position, err)
				}
				photos[f.Exception.PhotoItem] = true
			}
			exceptions[int(f.Position)] = f
		default:
			return nil, bad("%s: status %q unknown", f.Position, f.Status)
		}
	}
	for name, used := range photos {
		if !used {
			return nil, bad("photo %q belongs to no finger exception", name)
		}
	}
	r := &Records{}
	an2, ok := c.Item(ItemTransaction)
	if !ok {
		return nil, bad("no %s item", ItemTransaction)
	}
	d, err := ansinist.Decode(an2)
	if err != nil {
		return nil, bad("%s: %v", ItemTransaction, err)
	}
	r.Transaction = d
	if d.Type1.TCN != m.SessionID {
		return nil, bad("Type-1 TCN %q is not the session id", d.Type1.TCN)
	}
	if len(d.Type2) != 1 {
		return nil, bad("%d Type-2 records, want 1", len(d.Type2))
	}
	t2 := map[int][][]string{}
	for _, f := range d.Type2[0].Fields {
		t2[f.Num] = f.Items
	}
	if v := t2[t2ApplicantRef]; len(v) != 1 || len(v[0]) != 1 || v[0][0] != m.ApplicantRef {
		return nil, bad("Type-2 applicant reference differs from the manifest")
	}
	if v := t2[t2StationID]; len(v) != 1 || len(v[0]) != 1 || v[0][0] != m.StationID {
		return nil, bad("Type-2 station id differs from the manifest")
	}
	if len(t2[t2Exceptions]) != len(exceptions) {
		return nil, bad("Type-2 lists %d finger exceptions, manifest %d", len(t2[t2Exceptions]), len(exceptions))
	}
	for _, sf := range t2[t2Exceptions] {
		pos, _ := strconv.Atoi(sf[0])
		fe, ok := exceptions[pos]
		if !ok || len(sf) != 3 || sf[1] != fe.Exception.Reason.ampCode() || sf[2] != string(fe.Exception.Reason) {
			return nil, bad("Type-2 exception %v differs from the manifest", sf)
		}
	}
	if (m.Face != nil) != (len(d.Type10) == 1) || len(d.Type10) > 1 {
		return nil, bad("%d Type-10 records for %v face entries", len(d.Type10), m.Face != nil)
	}
	if m.Face != nil {
		t := d.Type10[0]
		if t.HLL != m.Face.Width || t.VLL != m.Face.Height || hexSum(t.Data) != m.Face.ImageSHA256 {
			return nil, bad("Type-10 image differs from the manifest")
		}
		fi, err := inspectJPEG(t.Data)
		if err != nil {
			return nil, bad("Type-10: %v", err)
		}
		if fi.w != t.HLL || fi.h != t.VLL {
			return nil, bad("Type-10 JPEG is %dx%d, HLL/VLL say %dx%d", fi.w, fi.h, t.HLL, t.VLL)
		}
	}
	if len(d.Type14) != len(captured)+len(m.Slaps) {
		return nil, bad("%d Type-14 records for %d captured fingers and %d slaps", len(d.Type14), len(captured), len(m.Slaps))
	}
	if err := checkSlaps(m, d.Type14[len(captured):]); err != nil {
		return nil, bad("%v", err)
	}
	for i, f := range captured {
		t := d.Type14[i]
		switch {
		case len(t.FGP) != 1 || t.FGP[0] != int(f.Position):
			return nil, bad("Type-14 record %d is finger %v, manifest says %s", i, t.FGP, f.Position)
		case t.HLL != f.Width || t.VLL != f.Height || t.THPS != f.PPI || t.TVPS != f.PPI || t.SLC != ansinist.ScalePPI:
			return nil, bad("Type-14 %s size or resolution differs from the manifest", f.Position)
		case t.CGA != string(m.FingerCompression):
			return nil, bad("Type-14 %s compression %q, manifest %q", f.Position, t.CGA, m.FingerCompression)
		case len(t.FQM) != 1 || t.FQM[0].Score != ansiScore(*f.Quality):
			return nil, bad("Type-14 %s quality metric differs from the manifest", f.Position)
		case hexSum(t.Data) != f.ImageSHA256:
			return nil, bad("Type-14 %s image differs from the manifest", f.Position)
		}
		if err := checkImageData(m.FingerCompression, t.Data, f.Width, f.Height); err != nil {
			return nil, bad("Type-14 %s: %v", f.Position, err)
		}
	}
	fir, hasFir := c.Item(ItemFingers)
	if hasFir != (len(captured) > 0) {
		return nil, bad("%s present=%v with %d captured fingers", ItemFingers, hasFir, len(captured))
	}
	if hasFir {
		fr, err := iso19794.ParseFinger(fir)
		if err != nil {
			return nil, bad("%s: %v", ItemFingers, err)
		}
		if len(fr.Representations) != len(captured) {
			return nil, bad("%s holds %d representations for %d captured fingers", ItemFingers, len(fr.Representations), len(captured))
		}
		for i, f := range captured {
			rep := fr.Representations[i]
			if int(rep.Position) != int(f.Position) || int(rep.Width) != f.Width || int(rep.Height) != f.Height ||
				int(rep.ImageH) != f.PPI || rep.Compression != isoCompression(m.FingerCompression) ||
				len(rep.Quality) != 1 || rep.Quality[0].Score != isoScore(*f.Quality) || hexSum(rep.Image) != f.ImageSHA256 {
				return nil, bad("%s representation %d (%s) differs from the manifest", ItemFingers, i+1, f.Position)
			}
		}
		r.Fingers = fr
	}
	fac, hasFac := c.Item(ItemFace)
	if hasFac != (m.Face != nil) {
		return nil, bad("%s present=%v, face in manifest=%v", ItemFace, hasFac, m.Face != nil)
	}
	if hasFac {
		fr, err := iso19794.ParseFace(fac)
		if err != nil {
			return nil, bad("%s: %v", ItemFace, err)
		}
		rep := fr.Representations[0]
		if len(fr.Representations) != 1 || int(rep.Width) != m.Face.Width || int(rep.Height) != m.Face.Height ||
			hexSum(rep.Image) != m.Face.ImageSHA256 {
			return nil, bad("%s differs from the manifest", ItemFace)
		}
		r.Face = fr
	}
	return r, nil
}

// checkSlaps checks the slap Type-14 records (after the single fingers')
// against the manifest: position, size, resolution, compression, image
// hash, and each finger's segment and quality.
func checkSlaps(m *Manifest, recs []ansinist.Type14) error {
	seen := map[FingerPosition]bool{}
	for i, sl := range m.Slaps {
		t := recs[i]
		if _, ok := slapNames[sl.Position]; !ok || seen[sl.Position] {
			return fmt.Errorf("slap position %d out of range or listed twice", sl.Position)
		}
		seen[sl.Position] = true
		switch {
		case len(t.FGP) != 1 || t.FGP[0] != int(sl.Position):
			return fmt.Errorf("Type-14 slap record %d is position %v, manifest says %s", i, t.FGP, sl.Position)
		case t.HLL != sl.Width || t.VLL != sl.Height || t.THPS != sl.PPI || t.TVPS != sl.PPI || t.SLC != ansinist.ScalePPI:
			return fmt.Errorf("Type-14 %s size or resolution differs from the manifest", sl.Position)
		case t.CGA != string(m.FingerCompression):
			return fmt.Errorf("Type-14 %s compression %q, manifest %q", sl.Position, t.CGA, m.FingerCompression)
		case hexSum(t.Data) != sl.ImageSHA256:
			return fmt.Errorf("Type-14 %s image differs from the manifest", sl.Position)
		case len(sl.Segments) == 0 || len(t.SEG) != len(sl.Segments) || len(t.FQM) != len(sl.Segments):
			return fmt.Errorf("Type-14 %s has %d segments and %d quality values, manifest %d segments", sl.Position, len(t.SEG), len(t.FQM), len(sl.Segments))
		}
		seg, aseg := sl.segments()
		if !slices.Equal(t.SEG, seg) {
			return fmt.Errorf("Type-14 %s segments differ from the manifest", sl.Position)
		}
		if !slices.EqualFunc(t.ASEG, aseg, func(a, b ansinist.Outline) bool { return a.FGP == b.FGP && slices.Equal(a.Points, b.Points) }) {
			return fmt.Errorf("Type-14 %s outlines differ from the manifest", sl.Position)
		}
		for k, g := range sl.Segments {
			if q := t.FQM[k]; !slices.Contains(slapFingers(sl.Position), g.Position) || q.FGP != int(g.Position) || q.Score != ansiScore(g.Quality) {
				return fmt.Errorf("Type-14 %s segment %d (%s) differs from the manifest", sl.Position, k+1, g.Position)
			}
		}
		if err := checkImageData(m.FingerCompression, t.Data, sl.Width, sl.Height); err != nil {
			return fmt.Errorf("Type-14 %s: %v", sl.Position, err)
		}
	}
	return nil
}

// checkImageData checks the image header agrees with the record: PNG and
// raw sizes exactly, WSQ from its frame header (without decoding).
func checkImageData(c Compression, data []byte, w, h int) error {
	switch c {
	case CompressionPNG:
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("PNG header: %v", err)
		}
		if cfg.Width != w || cfg.Height != h || cfg.ColorModel != color.GrayModel {
			return fmt.Errorf("PNG is %dx%d %T, record says %dx%d 8-bit gray", cfg.Width, cfg.Height, cfg.ColorModel, w, h)
		}
	case CompressionNone:
		if len(data) != w*h {
			return fmt.Errorf("%d raw bytes for %dx%d pixels", len(data), w, h)
		}
	case CompressionWSQ:
		cfg, err := wsq.DecodeConfig(data)
		if err != nil {
			return fmt.Errorf("WSQ headers: %v", err)
		}
		if cfg.Width != w || cfg.Height != h {
			return fmt.Errorf("WSQ frame is %dx%d, record says %dx%d", cfg.Width, cfg.Height, w, h)
		}
	default:
		return fmt.Errorf("compression %q unknown", c)
	}
	return nil
}

// photoItemName names the exception photo of a finger position.
func photoItemName(p FingerPosition) string { return fmt.Sprintf("exception-%02d.jpg", int(p)) }

// itemMediaType returns the media type an item name must carry, and
// whether the name is one of this format's.
func itemMediaType(name string) (string, bool) {
	switch name {
	case ItemTransaction:
		return MediaAN2, true
	case ItemFingers:
		return MediaISOFinger, true
	case ItemFace:
		return MediaISOFace, true
	}
	for p := FingerPosition(1); p <= 10; p++ {
		if name == photoItemName(p) {
			return MediaJPEG, true
		}
	}
	return "", false
}
