package packet

import (
	"fmt"
	"image"
	"slices"
	"time"

	"github.com/openenroll/stationd/devices"
)

// FingerPosition is a finger position code (ANSI/NIST-ITL 1-2011 Table 8,
// the same codes as ISO/IEC 19794-4:2011 Table 6): 1 right thumb ... 5
// right little, 6 left thumb ... 10 left little.
type FingerPosition int

var fingerNames = [...]string{"unknown", "right thumb", "right index", "right middle", "right ring", "right little",
	"left thumb", "left index", "left middle", "left ring", "left little"}

func (p FingerPosition) String() string {
	if p >= 0 && int(p) < len(fingerNames) {
		return fingerNames[p]
	}
	if n, ok := slapNames[p]; ok {
		return n
	}
	return fmt.Sprintf("finger(%d)", int(p))
}

// ExceptionReason says why a finger has no image.
type ExceptionReason string

// Exception reasons. Amputated maps to ANSI/NIST AMP code XX; bandaged and
// unable (to print: scars, injury, too worn) map to UP (§8.14.12).
const (
	ExceptionAmputated ExceptionReason = "amputated"
	ExceptionBandaged  ExceptionReason = "bandaged"
	ExceptionUnable    ExceptionReason = "unable"
)

func (r ExceptionReason) valid() bool {
	return r == ExceptionAmputated || r == ExceptionBandaged || r == ExceptionUnable
}

func (r ExceptionReason) ampCode() string {
	if r == ExceptionAmputated {
		return "XX"
	}
	return "UP"
}

// Quality is a quality score with the reasons behind it.
type Quality struct {
	// Score is 0-100 (higher is better) as computed by the capture package,
	// on the original image before any lossy compression. A negative score
	// means "not computed".
	Score   int      `json:"score"`
	Reasons []string `json:"reasons,omitempty"`
}

// Face is the applicant's portrait as the camera path delivered it.
type Face struct {
	JPEG     []byte    `json:"-"`
	Quality  Quality   `json:"quality"`
	Attempts int       `json:"attempts"`
	Captured time.Time `json:"captured"`
	DeviceID string    `json:"device_id,omitempty"`
}

// Exception records a finger that could not be captured.
type Exception struct {
	Reason ExceptionReason `json:"reason"`
	Note   string          `json:"note,omitempty"`
	// Photo is an optional JPEG of the hand, taken per policy.
	Photo []byte `json:"-"`
}

// Finger is one finger position: a captured image or an exception.
type Finger struct {
	Position FingerPosition `json:"position"`
	Image    *image.Gray    `json:"-"`
	PPI      int            `json:"ppi,omitempty"`
	Quality  Quality        `json:"quality"`
	Attempts int            `json:"attempts"`
	// Rolled is true for a rolled impression; plain otherwise.
	Rolled    bool       `json:"rolled,omitempty"`
	Captured  time.Time  `json:"captured,omitzero"`
	DeviceID  string     `json:"device_id,omitempty"`
	Exception *Exception `json:"exception,omitempty"`
}

// Slap positions (ANSI/NIST-ITL 1-2011 Table 8; ISO/IEC 19794-4 uses the
// same codes): the plain impressions of four fingers or two thumbs taken
// at once.
const (
	SlapRightFour FingerPosition = 13
	SlapLeftFour  FingerPosition = 14
	SlapThumbs    FingerPosition = 15
)

var slapNames = map[FingerPosition]string{SlapRightFour: "right four-finger slap",
	SlapLeftFour: "left four-finger slap", SlapThumbs: "two-thumb slap"}

// slapFingers lists the fingers a slap position can hold.
func slapFingers(p FingerPosition) []FingerPosition {
	switch p {
	case SlapRightFour:
		return []FingerPosition{2, 3, 4, 5}
	case SlapLeftFour:
		return []FingerPosition{7, 8, 9, 10}
	case SlapThumbs:
		return []FingerPosition{1, 6}
	}
	return nil
}

// Slap is a whole slap image as the scanner gave it, with where each
// finger was found on it. It goes to the central beside the single
// fingers cut from it, so that the fingers' sequence can be checked there
// (and segmentation redone) against the original.
type Slap struct {
	Position FingerPosition `json:"position"` // SlapRightFour, SlapLeftFour or SlapThumbs
	Image    *image.Gray    `json:"-"`
	PPI      int            `json:"ppi"`
	Segments []SlapSegment  `json:"segments"`
	Captured time.Time      `json:"captured,omitzero"`
	DeviceID string         `json:"device_id,omitempty"`
}

// SlapSegment is one finger found on a slap: its box in the slap image's
// coordinates (within Image.Bounds(); Min inclusive, Max exclusive, as
// image.Rectangle) and its quality there.
type SlapSegment struct {
	Position FingerPosition  `json:"position"`
	Box      image.Rectangle `json:"-"`
	// Outline, when known, is the finger's polygon (3-99 corners, in the
	// same coordinates as Box): tighter than the box on a tilted finger.
	Outline []image.Point `json:"-"`
	Quality Quality       `json:"quality"`
}

// CardCheck is one step of the chip-card stage (BAC, passive
// authentication, personalisation write, ...).
type CardCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// CardResult is the outcome of the chip-card stage.
type CardResult struct {
	Mode   string      `json:"mode"` // "read", "personalize" or "skipped"
	OK     bool        `json:"ok"`
	Checks []CardCheck `json:"checks,omitempty"`
	Detail string      `json:"detail,omitempty"`
}

// DeviceInfo is a device that took part, with its calibration state.
type DeviceInfo struct {
	devices.Info
	// Calibration is the device's calibration state ("ok",
	// "needs-calibration", "not-applicable") and when it was last done.
	Calibration  string    `json:"calibration,omitempty"`
	CalibratedAt time.Time `json:"calibrated_at,omitzero"`
	// CBEFFVendor and CBEFFType are the IBIA-registered vendor and product
	// ids written into ISO/IEC 19794 headers; 0 = unknown.
	CBEFFVendor uint16 `json:"cbeff_vendor,omitempty"`
	CBEFFType   uint16 `json:"cbeff_type,omitempty"`
}

// Enrollment is everything a finished session hands to Build.
type Enrollment struct {
	SessionID    string // unique per enrollment; written as the ANSI/NIST TCN
	ApplicantRef string
	OperatorID   string
	StationID    string
	Started      time.Time
	Finalized    time.Time
	Face         *Face
	Fingers      []Finger
	Slaps        []Slap
	Card         *CardResult
	Devices      []DeviceInfo
}

// validate checks what Build relies on: ids, unique finger positions 1-10,
// each finger captured or excepted (not both, not neither).
func (e *Enrollment) validate() error {
	for name, v := range map[string]string{"session id": e.SessionID, "station id": e.StationID,
		"operator id": e.OperatorID, "applicant reference": e.ApplicantRef} {
		if v == "" {
			return fmt.Errorf("packet: enrollment has no %s", name)
		}
	}
	if e.Finalized.IsZero() {
		return fmt.Errorf("packet: enrollment has no finalize time")
	}
	if e.Face != nil && len(e.Face.JPEG) == 0 {
		return fmt.Errorf("packet: face given without JPEG bytes")
	}
	seen := map[FingerPosition]bool{}
	for _, f := range e.Fingers {
		if f.Position < 1 || f.Position > 10 {
			return fmt.Errorf("packet: finger position %d out of range 1-10", f.Position)
		}
		if seen[f.Position] {
			return fmt.Errorf("packet: %s given twice", f.Position)
		}
		seen[f.Position] = true
		switch {
		case f.Image != nil && f.Exception != nil:
			return fmt.Errorf("packet: %s has both an image and an exception", f.Position)
		case f.Image == nil && f.Exception == nil:
			return fmt.Errorf("packet: %s has neither an image nor an exception", f.Position)
		case f.Exception != nil && !f.Exception.Reason.valid():
			return fmt.Errorf("packet: %s: exception reason %q, want amputated, bandaged or unable", f.Position, f.Exception.Reason)
		case f.Exception != nil && len(f.Exception.Photo) > 0:
			if _, err := inspectJPEG(f.Exception.Photo); err != nil {
				return fmt.Errorf("packet: %s: exception photo: %w", f.Position, err)
			}
		case f.Image != nil:
			b := f.Image.Bounds()
			if b.Dx() < 1 || b.Dy() < 1 || b.Dx() > 65535 || b.Dy() > 65535 {
				return fmt.Errorf("packet: %s image size %dx%d out of range", f.Position, b.Dx(), b.Dy())
			}
			if f.PPI < 1 || f.PPI > 65535 {
				return fmt.Errorf("packet: %s resolution %d ppi out of range", f.Position, f.PPI)
			}
			if f.Quality.Score > 100 {
				return fmt.Errorf("packet: %s quality %d above 100", f.Position, f.Quality.Score)
			}
		}
	}
	if e.Face != nil && e.Face.Quality.Score > 100 {
		return fmt.Errorf("packet: face quality %d above 100", e.Face.Quality.Score)
	}
	slaps := map[FingerPosition]bool{}
	for _, sl := range e.Slaps {
		if err := sl.validate(); err != nil {
			return err
		}
		if slaps[sl.Position] {
			return fmt.Errorf("packet: %s given twice", slapNames[sl.Position])
		}
		slaps[sl.Position] = true
	}
	return nil
}

func (sl *Slap) validate() error {
	name, ok := slapNames[sl.Position]
	if !ok {
		return fmt.Errorf("packet: slap position %d, want 13, 14 or 15", sl.Position)
	}
	if sl.Image == nil {
		return fmt.Errorf("packet: %s has no image", name)
	}
	b := sl.Image.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 || b.Dx() > 65535 || b.Dy() > 65535 {
		return fmt.Errorf("packet: %s image size %dx%d out of range", name, b.Dx(), b.Dy())
	}
	if sl.PPI < 1 || sl.PPI > 65535 {
		return fmt.Errorf("packet: %s resolution %d ppi out of range", name, sl.PPI)
	}
	if len(sl.Segments) == 0 {
		return fmt.Errorf("packet: %s has no finger segments", name)
	}
	seen := map[FingerPosition]bool{}
	for _, g := range sl.Segments {
		switch {
		case !slices.Contains(slapFingers(sl.Position), g.Position):
			return fmt.Errorf("packet: %s: a %s cannot be on it", name, g.Position)
		case seen[g.Position]:
			return fmt.Errorf("packet: %s: %s given twice", name, g.Position)
		case g.Box.Empty() || !g.Box.In(b):
			return fmt.Errorf("packet: %s: %s box %v is empty or outside the image %v", name, g.Position, g.Box, b)
		case g.Quality.Score > 100:
			return fmt.Errorf("packet: %s: %s quality %d above 100", name, g.Position, g.Quality.Score)
		case g.Outline != nil && (len(g.Outline) < 3 || len(g.Outline) > 99):
			return fmt.Errorf("packet: %s: %s outline has %d corners, want 3-99", name, g.Position, len(g.Outline))
		}
		for _, p := range g.Outline {
			if !p.In(b) {
				return fmt.Errorf("packet: %s: %s outline corner %v outside the image %v", name, g.Position, p, b)
			}
		}
		seen[g.Position] = true
	}
	return nil
}
