// Package session is the state machine of one enrollment: open (applicant
// reference, operator), face, ten fingers, chip card, review, then finalize
// or abandon. Every change is validated, written to disk (fsynced) before it
// is acknowledged, and announced to an observer, so that a session survives
// a crash or restart of stationd in exactly the state it was in.
//
// The package holds state only. Capturing (driving devices, scoring quality)
// is the caller's; building the packet and queueing it in the outbox is the
// Finalizer's. Finalizing is crash-safe: the built packet is kept with the
// session before it is handed to the outbox, so a crash at any point either
// leaves the session to finish on restart with the very same packet (same
// id, so never stored twice) or the packet already queued.
package session

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is where a session is in its life.
type State string

// Session states.
const (
	Capturing  State = "capturing"  // open: face, fingers and card being taken
	Review     State = "review"     // everything required is there; the officer checks it
	Finalizing State = "finalizing" // the packet is built and being queued
	Finalized  State = "finalized"  // the packet is in the outbox: "saved"
	Abandoned  State = "abandoned"
)

// Finger positions, ANSI/NIST-ITL and ISO/IEC 19794-4 codes 1-10.
const (
	RightThumb = 1 + iota
	RightIndex
	RightMiddle
	RightRing
	RightLittle
	LeftThumb
	LeftIndex
	LeftMiddle
	LeftRing
	LeftLittle
)

var fingerNames = [...]string{"", "right thumb", "right index", "right middle", "right ring", "right little",
	"left thumb", "left index", "left middle", "left ring", "left little"}

// FingerName is a position's name in English ("left index").
func FingerName(pos int) string {
	if SlapFingers(pos) != nil {
		return SlapName(pos)
	}
	if pos < 1 || pos > 10 {
		return fmt.Sprintf("finger %d", pos)
	}
	return fingerNames[pos]
}

// ExceptionKind is why a finger was not captured.
type ExceptionKind string

// Finger exceptions, as ANSI/NIST-ITL's amputated/bandaged codes (XX, UP)
// and one for a finger present but unprintable.
const (
	Amputated ExceptionKind = "amputated"
	Bandaged  ExceptionKind = "bandaged"
	Unable    ExceptionKind = "unable" // present, but no usable print (scarred, worn)
)

// CardMode is what the session does with the chip card.
type CardMode string

// Card modes.
const (
	CardNone        CardMode = "none"
	CardRead        CardMode = "read"        // read and verify the applicant's card
	CardPersonalize CardMode = "personalize" // write a new card from this enrollment
)

// Policy is what an enrollment must contain. It comes from configuration.
type Policy struct {
	// Fingers to capture, in the order the officer is guided through.
	FingerOrder []int `json:"finger_order"`
	// MaxAttempts per finger; after that only an exception may be recorded
	// if no attempt reached the threshold.
	MaxAttempts int `json:"max_attempts"`
	// Threshold is the quality score (0-100) an attempt needs to be kept
	// without further tries; per finger position, with Default for others.
	Threshold map[int]int `json:"threshold,omitempty"`
	// DefaultThreshold applies to fingers without their own threshold.
	DefaultThreshold int `json:"default_threshold"`
	// AcceptBelowThreshold lets a finger whose attempts are all exhausted
	// be kept with its best score (the usual practice), rather than
	// forcing an exception.
	AcceptBelowThreshold bool `json:"accept_below_threshold"`
	// ExceptionPhoto requires a photo of the hand for every exception.
	ExceptionPhoto bool `json:"exception_photo"`
	// Face requires the portrait.
	Face bool     `json:"face"`
	Card CardMode `json:"card"`
}

// DefaultPolicy is ten fingers, thumbs last, three attempts, a portrait and
// no card.
func DefaultPolicy() Policy {
	return Policy{
		FingerOrder: []int{RightIndex, RightMiddle, RightRing, RightLittle, LeftIndex, LeftMiddle, LeftRing, LeftLittle, RightThumb, LeftThumb},
		MaxAttempts: 3, DefaultThreshold: 40, AcceptBelowThreshold: true, Face: true, Card: CardNone,
	}
}

// Validate checks a policy for contradictions.
func (p Policy) Validate() error {
	seen := map[int]bool{}
	for _, f := range p.FingerOrder {
		if f < 1 || f > 10 {
			return fmt.Errorf("finger_order: %d is not a finger position (1-10)", f)
		}
		if seen[f] {
			return fmt.Errorf("finger_order: %s listed twice", FingerName(f))
		}
		seen[f] = true
	}
	if p.MaxAttempts < 1 || p.MaxAttempts > 20 {
		return fmt.Errorf("max_attempts: %d, use 1-20", p.MaxAttempts)
	}
	if p.DefaultThreshold < 0 || p.DefaultThreshold > 100 {
		return fmt.Errorf("default_threshold: %d, use 0-100", p.DefaultThreshold)
	}
	for f, t := range p.Threshold {
		if f < 1 || f > 10 || t < 0 || t > 100 {
			return fmt.Errorf("threshold: finger %d score %d out of range", f, t)
		}
	}
	switch p.Card {
	case CardNone, CardRead, CardPersonalize:
	default:
		return fmt.Errorf("card: %q, use none, read or personalize", p.Card)
	}
	return nil
}

func (p Policy) threshold(pos int) int {
	if t, ok := p.Threshold[pos]; ok {
		return t
	}
	return p.DefaultThreshold
}

// Attempt is one capture of a finger, kept or not.
type Attempt struct {
	Time    time.Time `json:"time"`
	Score   int       `json:"score"`
	Reasons []string  `json:"reasons,omitempty"`
	Device  string    `json:"device,omitempty"`
}

// Image is a stored capture: the bytes live in a file beside the session.
type Image struct {
	File   string `json:"file"`   // name within the session's directory
	Format string `json:"format"` // "png", "jpeg"
	Width  int    `json:"width"`
	Height int    `json:"height"`
	PPI    int    `json:"ppi,omitempty"`
	SHA256 string `json:"sha256"`
	Score  int    `json:"score"`
}

// Finger is everything about one finger position.
type Finger struct {
	Position  int        `json:"position"`
	Attempts  []Attempt  `json:"attempts,omitempty"`
	Best      *Image     `json:"best,omitempty"`
	BestOf    int        `json:"best_of,omitempty"` // index into Attempts of the kept one
	Exception *Exception `json:"exception,omitempty"`
}

// Exception records a finger not captured and why.
type Exception struct {
	Kind   ExceptionKind `json:"kind"`
	Reason string        `json:"reason"`
	Photo  *Image        `json:"photo,omitempty"`
	Time   time.Time     `json:"time"`
}

// Slap positions (ANSI/NIST-ITL and ISO/IEC 19794-4 codes): four fingers
// or two thumbs taken at once on a slap scanner.
const (
	SlapRightFour = 13
	SlapLeftFour  = 14
	SlapThumbs    = 15
)

// SlapPositions are the slap positions in their standard order.
var SlapPositions = []int{SlapRightFour, SlapLeftFour, SlapThumbs}

// SlapFingers lists the finger positions a slap holds (nil for a position
// that is not a slap).
func SlapFingers(slap int) []int {
	switch slap {
	case SlapRightFour:
		return []int{RightIndex, RightMiddle, RightRing, RightLittle}
	case SlapLeftFour:
		return []int{LeftIndex, LeftMiddle, LeftRing, LeftLittle}
	case SlapThumbs:
		return []int{RightThumb, LeftThumb}
	}
	return nil
}

// SlapName is a slap position's name in English.
func SlapName(slap int) string {
	switch slap {
	case SlapRightFour:
		return "right four-finger slap"
	case SlapLeftFour:
		return "left four-finger slap"
	case SlapThumbs:
		return "two-thumb slap"
	}
	return fmt.Sprintf("slap %d", slap)
}

// Slap is a whole slap image whose fingers were recorded as attempts, with
// where each finger lies on it: the central checks the fingers' sequence
// against it.
type Slap struct {
	Image    Image     `json:"image"`
	Segments []Segment `json:"segments"`
	Device   string    `json:"device,omitempty"`
	Time     time.Time `json:"time"`
}

// Segment is one finger's box on a slap image, in the stored image's
// pixels (X, Y its top left corner), its outline when known ([column,
// row] corners of the turned rectangle it was cut from), and its quality
// score there.
type Segment struct {
	Position int      `json:"position"`
	X        int      `json:"x"`
	Y        int      `json:"y"`
	W        int      `json:"w"`
	H        int      `json:"h"`
	Outline  [][2]int `json:"outline,omitempty"`
	Score    int      `json:"score"`
}

// Face is the kept portrait.
type Face struct {
	Image    Image     `json:"image"`
	Reasons  []string  `json:"reasons,omitempty"`
	Attempts int       `json:"attempts"`
	Device   string    `json:"device,omitempty"`
	Time     time.Time `json:"time"`
}

// CardResult is the outcome of the chip-card step.
type CardResult struct {
	Mode     CardMode  `json:"mode"`
	OK       bool      `json:"ok"`
	Detail   string    `json:"detail,omitempty"` // what the reader found or why it failed
	Document string    `json:"document,omitempty"`
	Device   string    `json:"device,omitempty"`
	Time     time.Time `json:"time"`
}

// Session is one enrollment. Its exported fields are its persisted form.
type Session struct {
	ID        string          `json:"id"`
	Applicant string          `json:"applicant"` // the applicant's reference (not a name)
	Operator  string          `json:"operator"`
	Station   string          `json:"station"`
	Policy    Policy          `json:"policy"`
	State     State           `json:"state"`
	Opened    time.Time       `json:"opened"`
	Updated   time.Time       `json:"updated"`
	Face      *Face           `json:"face,omitempty"`
	Fingers   map[int]*Finger `json:"fingers"`
	// Slaps by slap position (13-15); a later slap of a kind replaces the
	// earlier one.
	Slaps map[int]*Slap `json:"slaps,omitempty"`
	Card  *CardResult   `json:"card,omitempty"`
	// PacketID is set when finalizing begins: the id of the packet built,
	// kept with the session until the outbox holds it.
	PacketID string `json:"packet_id,omitempty"`
	// Devices names the devices used, with their identity at the time.
	Devices map[string]DeviceUse `json:"devices,omitempty"`
	Abandon string               `json:"abandon_reason,omitempty"`
	// Rev counts saved changes; it guards against applying a stale update.
	Rev int `json:"rev"`
}

// DeviceUse records which device took part, for the packet's manifest.
type DeviceUse struct {
	Kind, Driver, Vendor, Model, Serial, Firmware string
	// Calibration is the device's calibration state when it was used
	// ("ok", "failed", "needs-calibration", "not-applicable") and when the
	// calibration was done.
	Calibration  string    `json:",omitempty"`
	CalibratedAt time.Time `json:",omitzero"`
}

// Error is a transition the session refuses, in words for the officer.
type Error struct {
	Op  string
	Msg string
}

func (e *Error) Error() string { return e.Op + ": " + e.Msg }

func refuse(op, format string, args ...any) error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...)}
}

// ErrNotFound is returned for an unknown session id.
var ErrNotFound = errors.New("session: no such session")

func (s *Session) finger(pos int) *Finger {
	f := s.Fingers[pos]
	if f == nil {
		f = &Finger{Position: pos}
		s.Fingers[pos] = f
	}
	return f
}

func (s *Session) inPolicy(pos int) bool { return slices.Contains(s.Policy.FingerOrder, pos) }

// FingerDone reports whether a finger needs nothing more: excepted, or
// kept at or above its threshold, or out of attempts with a kept image
// when the policy accepts that.
func (s *Session) FingerDone(pos int) bool {
	f := s.Fingers[pos]
	if f == nil {
		return false
	}
	if f.Exception != nil {
		return true
	}
	if f.Best == nil {
		return false
	}
	if f.Best.Score >= s.Policy.threshold(pos) {
		return true
	}
	return s.Policy.AcceptBelowThreshold && len(f.Attempts) >= s.Policy.MaxAttempts
}

// NextFinger returns the next finger in the policy's order that is not done,
// or 0 when all are.
func (s *Session) NextFinger() int {
	for _, pos := range s.Policy.FingerOrder {
		if !s.FingerDone(pos) {
			return pos
		}
	}
	return 0
}

// Missing lists what still stops the session from going to review, in the
// officer's words; empty when it is complete.
func (s *Session) Missing() []string {
	var out []string
	if s.Policy.Face && s.Face == nil {
		out = append(out, "portrait not taken")
	}
	for _, pos := range s.Policy.FingerOrder {
		if s.FingerDone(pos) {
			continue
		}
		f := s.Fingers[pos]
		switch {
		case f == nil || len(f.Attempts) == 0:
			out = append(out, FingerName(pos)+": not captured and no exception")
		case len(f.Attempts) < s.Policy.MaxAttempts:
			out = append(out, fmt.Sprintf("%s: best score %d is below %d; try again or record an exception", FingerName(pos), bestScore(f), s.Policy.threshold(pos)))
		default:
			out = append(out, FingerName(pos)+": no usable capture; record an exception")
		}
	}
	if s.Policy.Card != CardNone && (s.Card == nil || !s.Card.OK) {
		out = append(out, "chip card step not completed")
	}
	return out
}

func bestScore(f *Finger) int {
	if f.Best == nil {
		return 0
	}
	return f.Best.Score
}

func (s *Session) mustCapture(op string) error {
	if s.State != Capturing {
		return refuse(op, "session is %s, not capturing", s.State)
	}
	return nil
}

// Summary is the session as the UI shows it: no image bytes.
func (s *Session) Summary() map[string]any {
	fingers := make([]map[string]any, 0, len(s.Policy.FingerOrder))
	for _, pos := range s.Policy.FingerOrder {
		m := map[string]any{"position": pos, "name": FingerName(pos), "done": s.FingerDone(pos), "threshold": s.Policy.threshold(pos)}
		if f := s.Fingers[pos]; f != nil {
			m["attempts"] = len(f.Attempts)
			if f.Best != nil {
				m["score"] = f.Best.Score
			}
			if f.Exception != nil {
				m["exception"] = f.Exception.Kind
			}
		}
		fingers = append(fingers, m)
	}
	out := map[string]any{"id": s.ID, "applicant": s.Applicant, "operator": s.Operator, "state": s.State,
		"fingers": fingers, "next_finger": s.NextFinger(), "missing": s.Missing(), "rev": s.Rev,
		"card_mode": s.Policy.Card}
	if s.Face != nil {
		out["face"] = map[string]any{"score": s.Face.Image.Score, "attempts": s.Face.Attempts}
	}
	if s.Card != nil {
		out["card"] = s.Card
	}
	if len(s.Slaps) > 0 {
		slaps := []int{}
		for _, pos := range SlapPositions {
			if s.Slaps[pos] != nil {
				slaps = append(slaps, pos)
			}
		}
		out["slaps"] = slaps
	}
	if s.PacketID != "" {
		out["packet_id"] = s.PacketID
	}
	return out
}

func validRef(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || (r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z'))
	}) < 0
}
