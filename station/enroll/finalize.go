package enroll

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"sort"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/outbox"
	"github.com/openenroll/stationd/station/packet"
	"github.com/openenroll/stationd/station/session"
)

// PacketFinalizer builds a session's packet (station/packet) and queues it
// in the outbox: the session package's Finalizer.
type PacketFinalizer struct {
	Options packet.Options
	Outbox  *outbox.Outbox
}

// Build converts the session to a packet.Enrollment and builds the packet.
func (f *PacketFinalizer) Build(ctx context.Context, s *session.Session, read func(string) ([]byte, error)) (string, []byte, error) {
	e, err := Enrollment(s, read)
	if err != nil {
		return "", nil, err
	}
	p, err := packet.Build(e, f.Options)
	if err != nil {
		return "", nil, err
	}
	return p.ID, p.Bytes, nil
}

// Enqueue stores the packet in the outbox, fsynced; idempotent by id.
func (f *PacketFinalizer) Enqueue(ctx context.Context, id string, b []byte) error {
	return f.Outbox.Put(ctx, id, b)
}

// Enrollment gathers a session's data and images into the packet's input.
func Enrollment(s *session.Session, read func(string) ([]byte, error)) (*packet.Enrollment, error) {
	e := &packet.Enrollment{
		SessionID: s.ID, ApplicantRef: s.Applicant, OperatorID: s.Operator, StationID: s.Station,
		Started: s.Opened, Finalized: s.Updated,
	}
	if s.Face != nil {
		jpg, err := read(s.Face.Image.File)
		if err != nil {
			return nil, fmt.Errorf("portrait: %w", err)
		}
		e.Face = &packet.Face{JPEG: jpg, Quality: packet.Quality{Score: s.Face.Image.Score, Reasons: s.Face.Reasons},
			Attempts: s.Face.Attempts, Captured: s.Face.Time, DeviceID: s.Face.Device}
	}
	positions := make([]int, 0, len(s.Fingers))
	for pos := range s.Fingers {
		positions = append(positions, pos)
	}
	sort.Ints(positions)
	for _, pos := range positions {
		f := s.Fingers[pos]
		pf := packet.Finger{Position: packet.FingerPosition(pos), Attempts: len(f.Attempts)}
		switch {
		case f.Exception != nil:
			pf.Exception = &packet.Exception{Reason: packet.ExceptionReason(f.Exception.Kind), Note: f.Exception.Reason}
			if f.Exception.Photo != nil {
				b, err := read(f.Exception.Photo.File)
				if err != nil {
					return nil, fmt.Errorf("%s exception photo: %w", session.FingerName(pos), err)
				}
				pf.Exception.Photo = b
			}
		case f.Best != nil:
			img, err := readGray(read, f.Best.File, session.FingerName(pos))
			if err != nil {
				return nil, err
			}
			best := f.Attempts[f.BestOf]
			pf.Image, pf.PPI = img, f.Best.PPI
			pf.Quality = packet.Quality{Score: f.Best.Score, Reasons: best.Reasons}
			pf.Captured, pf.DeviceID = best.Time, best.Device
		default:
			continue
		}
		e.Fingers = append(e.Fingers, pf)
	}
	for _, pos := range session.SlapPositions {
		sl := s.Slaps[pos]
		if sl == nil {
			continue
		}
		img, err := readGray(read, sl.Image.File, session.SlapName(pos))
		if err != nil {
			return nil, err
		}
		ps := packet.Slap{Position: packet.FingerPosition(pos), Image: img, PPI: sl.Image.PPI, Captured: sl.Time, DeviceID: sl.Device}
		o := img.Bounds().Min
		for _, g := range sl.Segments {
			seg := packet.SlapSegment{Position: packet.FingerPosition(g.Position),
				Box: image.Rect(g.X, g.Y, g.X+g.W, g.Y+g.H).Add(o), Quality: packet.Quality{Score: g.Score}}
			for _, p := range g.Outline {
				seg.Outline = append(seg.Outline, image.Pt(p[0], p[1]).Add(o))
			}
			ps.Segments = append(ps.Segments, seg)
		}
		e.Slaps = append(e.Slaps, ps)
	}
	if s.Card != nil {
		e.Card = &packet.CardResult{Mode: string(s.Card.Mode), OK: s.Card.OK, Detail: s.Card.Detail}
	}
	ids := make([]string, 0, len(s.Devices))
	for id := range s.Devices {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d := s.Devices[id]
		e.Devices = append(e.Devices, packet.DeviceInfo{
			Info: devices.Info{ID: id, Kind: devices.Kind(d.Kind), Driver: d.Driver, Vendor: d.Vendor,
				Model: d.Model, Serial: d.Serial, Firmware: d.Firmware},
			Calibration: d.Calibration, CalibratedAt: d.CalibratedAt,
		})
	}
	return e, nil
}

// readGray reads and decodes one stored grey image; what names it in errors.
func readGray(read func(string) ([]byte, error), file, what string) (*image.Gray, error) {
	b, err := read(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	img, err := decodeGray(b)
	if err != nil {
		return nil, fmt.Errorf("%s: stored image: %w", what, err)
	}
	return img, nil
}

func decodeGray(b []byte) (*image.Gray, error) {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if g, ok := img.(*image.Gray); ok {
		return g, nil
	}
	g := image.NewGray(img.Bounds())
	draw.Draw(g, g.Bounds(), img, img.Bounds().Min, draw.Src)
	return g, nil
}

func encodePNG(img *image.Gray) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
