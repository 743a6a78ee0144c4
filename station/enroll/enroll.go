// Package enroll is the station's capture flow: it ties the devices, the
// quality checks and the session state machine together. It finds the
// device for a step in the registry, captures, scores the capture with
// package capture, records it in the session, and tells the operator UI
// what happened (events on the station bus, replies to websocket commands).
//
// Devices know nothing of sessions and capture knows nothing of devices:
// this package is where they meet.
package enroll

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openenroll/stationd/capture/finger"
	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/fingerprint"
	"github.com/openenroll/stationd/devices/hid"
	"github.com/openenroll/stationd/devices/smartcard/lds"
	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/bus"
	"github.com/openenroll/stationd/station/outbox"
	"github.com/openenroll/stationd/station/session"
)

// Options configure a Controller.
type Options struct {
	Registry  *devices.Registry
	Sessions  *session.Manager
	Bus       *bus.Bus
	Outbox    *outbox.Outbox // for status; may be nil
	StationID string
	Policy    session.Policy
	// FingerTimeout bounds the wait for a finger on the scanner.
	FingerTimeout time.Duration
	// LiftTimeout bounds the wait for the previous finger to lift.
	LiftTimeout time.Duration
	// MinPacketRoom is the outbox room a new session needs (an estimate of
	// one packet's size); 0 disables the check.
	MinPacketRoom int64
	// CSCAs are the country signing CA certificates chip cards are
	// verified against (passive authentication).
	CSCAs []*x509.Certificate
	// DocumentSigner signs EF.SOD when the station personalizes cards.
	DocumentSigner *lds.Signer
	// Face tunes the portrait step.
	Face FaceOptions
	// Calibration tells a device's calibration state for the manifest;
	// DeviceBusy whether a technician's test is running on it.
	Calibration func(id string) (string, time.Time)
	DeviceBusy  func(id string) bool
	// Usage, when set, hears each device's attempts, captures and errors.
	Usage  Usage
	Logger *slog.Logger
}

// Controller runs captures for sessions.
type Controller struct {
	opts Options
	log  *slog.Logger

	mu   sync.Mutex
	busy map[string]string // device id -> what it is doing, one capture per device
	// lifted holds, per scanner, the outcome of watching for the last
	// captured finger to leave the glass (see watchLift).
	lifted map[string]*liftWatch

	// captureSeq numbers finger captures, so that the UI can tell which
	// capture a capture.finger.lifted event belongs to.
	captureSeq atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type liftWatch struct {
	done chan struct{}
	ok   bool
}

// New returns a controller.
func New(opts Options) *Controller {
	if opts.FingerTimeout <= 0 {
		opts.FingerTimeout = 30 * time.Second
	}
	if opts.LiftTimeout <= 0 {
		opts.LiftTimeout = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Controller{opts: opts, log: log, busy: map[string]string{}, lifted: map[string]*liftWatch{}, ctx: ctx, cancel: cancel}
}

// Close stops the controller's background work (lift watches).
func (c *Controller) Close() {
	c.cancel()
	c.wg.Wait()
}

// watchLift waits, in the background, for the finger just captured to be
// lifted, so that the next capture knows whether the glass is clear
// without making the officer wait for it now.
func (c *Controller) watchLift(id string, sc fingerprint.Scanner, seq uint64) {
	w := &liftWatch{done: make(chan struct{})}
	c.mu.Lock()
	c.lifted[id] = w
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(w.done)
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.LiftTimeout)
		defer cancel()
		w.ok = sc.WaitLift(ctx) == nil
		if w.ok {
			// The glass is clear: the UI may prompt for the next finger.
			c.publish("capture.finger.lifted", map[string]any{"device": id, "capture_seq": seq})
		}
	}()
}

// awaitLift makes sure the previous finger is off the scanner before a new
// capture: a fresh impression, never the same one twice.
func (c *Controller) awaitLift(ctx context.Context, id string, sc fingerprint.Scanner) error {
	c.mu.Lock()
	w := c.lifted[id]
	c.mu.Unlock()
	if w == nil {
		return nil // nothing captured on it since stationd started
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if w.ok {
		return nil
	}
	// The finger stayed on past the watch: check once more now.
	lctx, cancel := context.WithTimeout(ctx, c.opts.LiftTimeout)
	defer cancel()
	if err := sc.WaitLift(lctx); err != nil {
		return err
	}
	c.mu.Lock()
	w.ok = true
	c.mu.Unlock()
	return nil
}

// Error is a refusal with a code the UI can act on.
type Error struct {
	code string
	msg  string
}

func (e *Error) Error() string { return e.msg }

// Code is the error's stable code (see docs/api.md).
func (e *Error) Code() string { return e.code }

func fail(code, format string, args ...any) error {
	return &Error{code: code, msg: fmt.Sprintf(format, args...)}
}

// coded gives session and other errors the code the UI expects.
func coded(err error) error {
	if err == nil {
		return nil
	}
	var se *session.Error
	var ce *Error
	switch {
	case errors.As(err, &ce):
		return err
	case errors.As(err, &se):
		return &Error{code: "refused", msg: err.Error()}
	case errors.Is(err, session.ErrNotFound):
		return &Error{code: "not_found", msg: "no such open session"}
	case errors.Is(err, outbox.ErrOutboxFull):
		return &Error{code: "outbox_full", msg: err.Error()}
	}
	return err
}

// Commands returns the websocket commands this controller answers.
func (c *Controller) Commands() map[string]api.CommandFunc {
	return map[string]api.CommandFunc{
		"session.start":            c.cmdStart,
		"session.get":              c.cmdGet,
		"session.list":             c.cmdList,
		"session.finger.capture":   c.cmdCaptureFinger,
		"session.finger.except":    c.cmdExcept,
		"session.finger.clear":     c.cmdClear,
		"session.review":           c.simple((*session.Manager).ToReview),
		"session.back":             c.simple((*session.Manager).BackToCapture),
		"session.finalize":         c.cmdFinalize,
		"session.face.capture":     c.cmdCaptureFace,
		"session.slap.capture":     c.cmdCaptureSlap,
		"session.card":             c.cmdCard,
		"session.card.personalize": c.cmdPersonalize,
		"session.abandon":          c.cmdAbandon,
		"session.images":           c.cmdImages,
		"outbox.status":            c.cmdOutboxStatus,
	}
}

func decode[T any](p json.RawMessage) (T, error) {
	var v T
	if len(p) == 0 {
		p = []byte("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(p)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fail("bad_request", "payload: %v", err)
	}
	return v, nil
}

type sessionRef struct {
	Session string `json:"session"`
}

func (c *Controller) cmdStart(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[struct {
		Applicant string `json:"applicant"`
		Operator  string `json:"operator"`
	}](p)
	if err != nil {
		return nil, err
	}
	if err := c.checkRoom(); err != nil {
		return nil, err
	}
	s, err := c.opts.Sessions.Start(in.Applicant, in.Operator, c.opts.StationID, c.opts.Policy)
	if err != nil {
		return nil, coded(err)
	}
	return s.Summary(), nil
}

// checkRoom refuses a new session when the outbox could not hold its packet:
// better to say so before the applicant sits down than after.
func (c *Controller) checkRoom() error {
	if c.opts.Outbox == nil || c.opts.MinPacketRoom <= 0 {
		return nil
	}
	st, err := c.opts.Outbox.Status()
	if err != nil {
		return err
	}
	if st.Room >= 0 && st.Room < c.opts.MinPacketRoom {
		return fail("outbox_full", "the outbox is full (%d packets waiting to upload): new enrollments cannot be saved until the link to central uploads them or a technician frees space", st.Depth)
	}
	return nil
}

func (c *Controller) cmdGet(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[sessionRef](p)
	if err != nil {
		return nil, err
	}
	s, err := c.opts.Sessions.Get(in.Session)
	if err != nil {
		return nil, coded(err)
	}
	return s.Summary(), nil
}

func (c *Controller) cmdList(ctx context.Context, p json.RawMessage) (any, error) {
	if _, err := decode[struct{}](p); err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, s := range c.opts.Sessions.List() {
		out = append(out, s.Summary())
	}
	return map[string]any{"sessions": out}, nil
}

func (c *Controller) simple(fn func(*session.Manager, string) (*session.Session, error)) api.CommandFunc {
	return func(ctx context.Context, p json.RawMessage) (any, error) {
		in, err := decode[sessionRef](p)
		if err != nil {
			return nil, err
		}
		s, err := fn(c.opts.Sessions, in.Session)
		if err != nil {
			return nil, coded(err)
		}
		return s.Summary(), nil
	}
}

func (c *Controller) cmdExcept(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[struct {
		Session  string `json:"session"`
		Position int    `json:"position"`
		Kind     string `json:"kind"`
		Reason   string `json:"reason"`
		// Photo of the hand, when the policy asks for one: "camera" takes
		// it from the booth's camera now; PhotoJPEG carries one (base64).
		Photo     string `json:"photo"`
		PhotoJPEG []byte `json:"photo_jpeg"`
		Device    string `json:"device"`
	}](p)
	if err != nil {
		return nil, err
	}
	photo := in.PhotoJPEG
	switch in.Photo {
	case "":
	case "camera":
		if photo, err = c.SnapshotJPEG(ctx, in.Device); err != nil {
			return nil, err
		}
	default:
		return nil, fail("bad_request", "photo %q: use \"camera\" or send photo_jpeg", in.Photo)
	}
	if len(photo) > 0 && (len(photo) < 4 || photo[0] != 0xFF || photo[1] != 0xD8) {
		return nil, fail("bad_request", "photo_jpeg is not a JPEG image")
	}
	s, err := c.opts.Sessions.Except(in.Session, in.Position, session.ExceptionKind(in.Kind), in.Reason, photo)
	if err != nil {
		return nil, coded(err)
	}
	return s.Summary(), nil
}

func (c *Controller) cmdClear(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[struct {
		Session  string `json:"session"`
		Position int    `json:"position"`
	}](p)
	if err != nil {
		return nil, err
	}
	s, err := c.opts.Sessions.ClearException(in.Session, in.Position)
	if err != nil {
		return nil, coded(err)
	}
	return s.Summary(), nil
}

func (c *Controller) cmdFinalize(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[sessionRef](p)
	if err != nil {
		return nil, err
	}
	// Finalizing must not be cut short by the UI going away: once begun it
	// runs to the outbox (or to an error that Recover finishes later).
	id, err := c.opts.Sessions.Finalize(context.WithoutCancel(ctx), in.Session)
	if err != nil {
		return nil, coded(err)
	}
	c.log.Info("enrollment saved", "session", in.Session, "packet", id)
	c.publishOutbox()
	return map[string]any{"packet_id": id, "saved": true}, nil
}

func (c *Controller) cmdAbandon(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[struct {
		Session string `json:"session"`
		Reason  string `json:"reason"`
	}](p)
	if err != nil {
		return nil, err
	}
	if err := c.opts.Sessions.Abandon(in.Session, in.Reason); err != nil {
		return nil, coded(err)
	}
	return map[string]any{"abandoned": true}, nil
}

func (c *Controller) cmdOutboxStatus(ctx context.Context, p json.RawMessage) (any, error) {
	if c.opts.Outbox == nil {
		return nil, fail("unavailable", "no outbox configured")
	}
	st, err := c.opts.Outbox.Status()
	if err != nil {
		return nil, err
	}
	return st, nil
}

// publishOutbox tells the UI the outbox changed.
func (c *Controller) publishOutbox() {
	if c.opts.Outbox == nil || c.opts.Bus == nil {
		return
	}
	if st, err := c.opts.Outbox.Status(); err == nil {
		c.opts.Bus.Publish(bus.Message{Type: "outbox.status", Payload: st})
	}
}

// claim marks a device busy with one capture; a second capture on the same
// device is refused rather than interleaved.
func (c *Controller) claim(id, what string) error {
	if c.opts.DeviceBusy != nil && c.opts.DeviceBusy(id) {
		return fail("device_busy", "%s is being tested by a technician; wait for the test to end", id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.busy[id]; ok {
		return fail("device_busy", "%s is busy (%s)", id, cur)
	}
	c.busy[id] = what
	return nil
}

func (c *Controller) release(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.busy, id)
}

// findDevice returns the named device, or the first present device of the
// kind that implements T.
func findDevice[T any](reg *devices.Registry, id string, kind devices.Kind) (T, devices.Info, error) {
	var zero T
	if id != "" {
		d, ok := reg.Get(id)
		if !ok {
			return zero, devices.Info{}, fail("device_unavailable", "device %s is not connected", id)
		}
		t, ok := d.(T)
		if !ok {
			return zero, devices.Info{}, fail("bad_request", "device %s is not a %s", id, kind)
		}
		return t, d.Info(), nil
	}
	for _, st := range reg.Snapshot() {
		if st.Info.Kind != kind || st.State == devices.StateAbsent {
			continue
		}
		if d, ok := reg.Get(st.Info.ID); ok {
			if t, ok := d.(T); ok {
				return t, d.Info(), nil
			}
		}
	}
	return zero, devices.Info{}, fail("device_unavailable", "no %s is connected: check its cable, then see the device list", kind)
}

func (c *Controller) use(info devices.Info) *session.DeviceUse {
	u := &session.DeviceUse{Kind: string(info.Kind), Driver: info.Driver, Vendor: info.Vendor, Model: info.Model,
		Serial: info.Serial, Firmware: info.Firmware}
	if c.opts.Calibration != nil {
		u.Calibration, u.CalibratedAt = c.opts.Calibration(info.ID)
	}
	return u
}

// FingerResult is the reply to session.finger.capture.
type FingerResult struct {
	Session   string         `json:"session"`
	Position  int            `json:"position"`
	Score     int            `json:"score"`
	Reasons   []string       `json:"reasons"`
	Accepted  bool           `json:"accepted"` // recorded as an attempt (false: not a fingerprint)
	Kept      bool           `json:"kept"`     // this attempt is now the finger's best
	Attempts  int            `json:"attempts"`
	Threshold int            `json:"threshold"`
	Done      bool           `json:"done"`
	Summary   map[string]any `json:"summary"`
	// CaptureSeq matches the capture.finger.lifted event that follows
	// once the finger is off the glass.
	CaptureSeq uint64 `json:"capture_seq"`
}

func (c *Controller) cmdCaptureFinger(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[struct {
		Session  string `json:"session"`
		Position int    `json:"position"`
		Device   string `json:"device"`
	}](p)
	if err != nil {
		return nil, err
	}
	return c.CaptureFinger(ctx, in.Session, in.Position, in.Device)
}

// CaptureFinger captures one finger on a scanner, scores it and records it
// as an attempt of the session.
func (c *Controller) CaptureFinger(ctx context.Context, sid string, pos int, deviceID string) (*FingerResult, error) {
	s, err := c.opts.Sessions.Get(sid)
	if err != nil {
		return nil, coded(err)
	}
	if s.State != session.Capturing {
		return nil, fail("refused", "session is %s, not capturing", s.State)
	}
	sc, info, err := findDevice[fingerprint.Scanner](c.opts.Registry, deviceID, devices.KindFingerprint)
	if err != nil {
		return nil, err
	}
	if err := c.claim(info.ID, "capturing "+session.FingerName(pos)); err != nil {
		return nil, err
	}
	defer c.release(info.ID)

	// A fresh impression: the previous finger must be off the glass.
	if err := c.awaitLift(ctx, info.ID, sc); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.publish("capture.finger.lift", map[string]any{"session": sid, "position": pos, "device": info.ID})
		return nil, fail("finger_not_lifted", "lift the finger from the scanner, then try again")
	}
	sc.SetLED(ctx, fingerprint.LED{Mode: fingerprint.LEDBreathing, Color: fingerprint.LEDBlue})
	c.setLight(hid.PatternPlaceFingers)
	c.publish("capture.finger.waiting", map[string]any{"session": sid, "position": pos, "name": session.FingerName(pos), "device": info.ID})
	c.attempt(info.ID, "finger")
	img, err := sc.Capture(ctx, fingerprint.CaptureOptions{Timeout: c.opts.FingerTimeout, Position: pos})
	if err != nil {
		c.failed(ctx, info.ID, "finger", err)
		sc.SetLED(context.WithoutCancel(ctx), fingerprint.LED{Mode: fingerprint.LEDFlashing, Color: fingerprint.LEDRed, Count: 3})
		c.setLight(hid.PatternTryAgain)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, fingerprint.ErrNoFinger):
			return nil, fail("no_finger", "no finger was placed on the scanner in time: place the %s flat on the glass", session.FingerName(pos))
		case errors.Is(err, fingerprint.ErrDeviceGone):
			return nil, fail("device_unavailable", "the scanner was disconnected: %v", err)
		}
		return nil, fail("capture_failed", "%v", err)
	}
	c.captured(info.ID, "finger")
	seq := c.captureSeq.Add(1)
	c.watchLift(info.ID, sc, seq)
	q, err := finger.Assess(img.Gray, img.PPI)
	if err != nil {
		return nil, fail("capture_failed", "scoring the image: %v", err)
	}
	reasons := make([]string, len(q.Reasons))
	for i, r := range q.Reasons {
		reasons[i] = string(r)
	}
	pngData, err := encodePNG(img.Gray)
	if err != nil {
		return nil, err
	}
	b := img.Gray.Bounds()
	c.publishPreview("preview.finger", map[string]any{"session": sid, "position": pos, "format": "png",
		"width": b.Dx(), "height": b.Dy(), "score": q.Score}, pngData)

	res := &FingerResult{Session: sid, Position: pos, Score: q.Score, Reasons: reasons, CaptureSeq: seq}
	if !q.Fingerprint {
		// Not recorded: an image of nothing (or of a glove) is not an attempt.
		sc.SetLED(context.WithoutCancel(ctx), fingerprint.LED{Mode: fingerprint.LEDFlashing, Color: fingerprint.LEDRed, Count: 3})
		c.setLight(hid.PatternTryAgain)
		res.Summary = s.Summary()
		c.publish("capture.finger.result", res)
		return res, nil
	}
	ns, err := c.opts.Sessions.AddFingerAttempt(sid, pos, session.Capture{Data: pngData, Format: "png",
		Width: b.Dx(), Height: b.Dy(), PPI: img.PPI, Score: q.Score, Reasons: reasons, Device: info.ID, DeviceUse: c.use(info)})
	if err != nil {
		return nil, coded(err)
	}
	f := ns.Fingers[pos]
	res.Accepted = true
	res.Attempts = len(f.Attempts)
	res.Kept = f.BestOf == len(f.Attempts)-1 // the session keeps an attempt only when it beats the best
	res.Threshold = thresholdOf(ns.Policy, pos)
	res.Done = ns.FingerDone(pos)
	res.Summary = ns.Summary()
	color, light := fingerprint.LEDGreen, hid.PatternDone
	if q.Score < res.Threshold {
		color, light = fingerprint.LEDYellow, hid.PatternTryAgain
	}
	c.setLight(light)
	sc.SetLED(context.WithoutCancel(ctx), fingerprint.LED{Mode: fingerprint.LEDOn, Color: color})
	c.publish("capture.finger.result", res)
	return res, nil
}

func thresholdOf(p session.Policy, pos int) int {
	if t, ok := p.Threshold[pos]; ok {
		return t
	}
	return p.DefaultThreshold
}

func (c *Controller) publish(typ string, payload any) {
	if c.opts.Bus != nil {
		c.opts.Bus.Publish(bus.Message{Type: typ, Payload: payload})
	}
}

func (c *Controller) publishPreview(typ string, payload any, data []byte) {
	if c.opts.Bus != nil {
		c.opts.Bus.Publish(busPreview(typ, payload, data))
	}
}

func busPreview(typ string, payload any, data []byte) bus.Message {
	return bus.Message{Type: typ, Payload: payload, Binary: data, Preview: true}
}

// SessionObserver returns the function the session manager calls on every
// change: it republishes the change on the bus for the UI.
func SessionObserver(b *bus.Bus) func(session.Event) {
	return func(e session.Event) {
		b.Publish(bus.Message{Type: e.Type, Payload: e.Session})
	}
}
