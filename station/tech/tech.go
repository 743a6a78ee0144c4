// Package tech is the technician's console behind stationd: self-tests and
// calibration runs for the booth's devices (fingerprint scanners, card
// readers, cameras), answered as websocket commands (device.selftest,
// device.calibrate, device.checks), with progress and results published on
// the station bus, and the results kept on disk so that later enrollment
// packets can state each device's calibration in their manifests.
//
// A run never rewrites the configuration file. Where the driver can adjust
// the running device (a camera's exposure, gain, white balance and focus),
// calibration steers it toward its targets on the live image and reports
// which [device.options] values keep the result after a restart; where it
// cannot, calibration measures and says what the technician should change.
package tech

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/bus"
)

// Options configure a Service.
type Options struct {
	Registry *devices.Registry
	Bus      *bus.Bus // may be nil: no progress events
	// Dir is where the results are kept, one JSON file per device.
	Dir    string
	Logger *slog.Logger
	// RunTimeout bounds one self-test or calibration run (default 60 s).
	RunTimeout time.Duration
	// CalibrationMaxAge, when positive, makes a calibration older than this
	// count as "needs-calibration" again.
	CalibrationMaxAge time.Duration
	// CameraFrames is how many frames the camera's frame-rate test counts
	// (default 50: two seconds at 25 fps, enough to average out jitter).
	CameraFrames int
	// CardWait bounds the wait to connect to a card the reader reports
	// present (default 5 s).
	CardWait time.Duration
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Run kinds, as saved and as sent in events.
const (
	RunSelftest  = "selftest"
	RunCalibrate = "calibrate"
)

// Results of a check or a whole run. A run's result is the worst of its
// checks' (fail > warn > pass); "skipped" checks do not count, and a run
// whose checks were all skipped is "not-available".
const (
	Pass         = "pass"
	Warn         = "warn"
	Fail         = "fail"
	Skipped      = "skipped"
	NotAvailable = "not-available"
)

// Calibration states, as Calibration returns them for packet manifests.
const (
	CalOK            = "ok"
	CalFailed        = "failed"
	CalNeeded        = "needs-calibration"
	CalNotApplicable = "not-applicable"
)

// Check is one measured item of a run.
type Check struct {
	Name    string `json:"name"`   // "handshake", "blank-platen", "atr", "frame-rate", "cleanliness"...
	Result  string `json:"result"` // pass, warn, fail, skipped
	Message string `json:"message"`
	// Advice says what the technician can do, when there is something to do.
	Advice string `json:"advice,omitempty"`
	// Values are the measurements, by name with their unit in the name
	// ("fps", "background_level", "round_trip_ms").
	Values map[string]any `json:"values,omitempty"`
}

// Report is the outcome of one run on one device.
type Report struct {
	Device   string       `json:"device"`
	Kind     devices.Kind `json:"kind"`
	Driver   string       `json:"driver"`
	Run      string       `json:"run"` // selftest or calibrate
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
	Result   string       `json:"result"` // pass, warn, fail, not-available
	Checks   []Check      `json:"checks"`
}

// Progress is the payload of a tech.progress event.
type Progress struct {
	Device  string `json:"device"`
	Run     string `json:"run"`
	Step    int    `json:"step"` // 1-based
	Of      int    `json:"of"`
	Message string `json:"message"`
}

// Event types published on the bus.
const (
	EventProgress = "tech.progress"
	EventResult   = "tech.result"
)

// Record is what is kept on disk per device: the last run of each kind.
type Record struct {
	Device      string  `json:"device"`
	Selftest    *Report `json:"selftest,omitempty"`
	Calibration *Report `json:"calibration,omitempty"`
}

// Service runs self-tests and calibrations.
type Service struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	records map[string]*Record
	running map[string]string // device -> run in progress
}

// New returns a service, reading the results saved in Dir (created if
// missing). A saved file that cannot be read is logged and ignored: the
// device then needs calibrating again.
func New(opts Options) (*Service, error) {
	if opts.Registry == nil {
		return nil, errors.New("tech: no device registry")
	}
	if opts.Dir == "" {
		return nil, errors.New("tech: no directory for results")
	}
	if opts.RunTimeout <= 0 {
		opts.RunTimeout = 60 * time.Second
	}
	if opts.CameraFrames < 2 {
		opts.CameraFrames = 50
	}
	if opts.CardWait <= 0 {
		opts.CardWait = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("tech: results directory: %w", err)
	}
	s := &Service{opts: opts, log: log, records: map[string]*Record{}, running: map[string]string{}}
	ents, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("tech: results directory: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(opts.Dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			log.Warn("device check results unreadable", "file", path, "err", err)
			continue
		}
		rec, err := decodeRecord(b)
		if err != nil {
			log.Warn("device check results ignored: calibrate the device again", "file", path, "err", err)
			continue
		}
		s.records[rec.Device] = rec
	}
	return s, nil
}

// maxRecordBytes bounds a saved record: a few dozen checks at most.
const maxRecordBytes = 1 << 20

// decodeRecord parses a saved record strictly.
func decodeRecord(b []byte) (*Record, error) {
	if len(b) > maxRecordBytes {
		return nil, fmt.Errorf("%d bytes, more than %d", len(b), maxRecordBytes)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a results record: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a results record: more than one JSON value")
	}
	if r.Device == "" {
		return nil, errors.New("results record without a device id")
	}
	for _, rep := range []*Report{r.Selftest, r.Calibration} {
		if rep == nil {
			continue
		}
		if rep.Device != r.Device {
			return nil, fmt.Errorf("report for device %q in the record of %q", rep.Device, r.Device)
		}
		switch rep.Result {
		case Pass, Warn, Fail, NotAvailable:
		default:
			return nil, fmt.Errorf("report result %q is not pass, warn, fail or not-available", rep.Result)
		}
	}
	if r.Selftest != nil && r.Selftest.Run != RunSelftest || r.Calibration != nil && r.Calibration.Run != RunCalibrate {
		return nil, errors.New("report saved under the wrong run kind")
	}
	return &r, nil
}

// Error is a refusal with a code the UI can act on (api.CodedError).
type Error struct {
	code, msg string
}

func (e *Error) Error() string { return e.msg }

// Code is the error's stable code.
func (e *Error) Code() string { return e.code }

func refuse(code, format string, args ...any) error {
	return &Error{code: code, msg: fmt.Sprintf(format, args...)}
}

// Commands returns the websocket commands of the technician console.
func (s *Service) Commands() map[string]api.CommandFunc {
	return map[string]api.CommandFunc{
		"device.selftest":  s.command(RunSelftest),
		"device.calibrate": s.command(RunCalibrate),
		"device.checks":    s.cmdChecks,
	}
}

type deviceRef struct {
	Device string `json:"device"`
}

func decodeRef(p json.RawMessage) (deviceRef, error) {
	var in deviceRef
	if len(p) == 0 {
		p = []byte("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(p)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, refuse("bad_request", "payload: %v", err)
	}
	return in, nil
}

func (s *Service) command(run string) api.CommandFunc {
	return func(ctx context.Context, p json.RawMessage) (any, error) {
		in, err := decodeRef(p)
		if err != nil {
			return nil, err
		}
		if in.Device == "" {
			return nil, refuse("bad_request", "payload: device is required")
		}
		if run == RunSelftest {
			return s.Selftest(ctx, in.Device)
		}
		return s.Calibrate(ctx, in.Device)
	}
}

func (s *Service) cmdChecks(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decodeRef(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.Device != "" {
		return s.checksLocked(in.Device), nil
	}
	out := map[string][]checksPayload{"devices": {}}
	for _, st := range s.opts.Registry.Snapshot() {
		out["devices"] = append(out["devices"], s.checksLocked(st.Info.ID))
	}
	return out, nil
}

// checksPayload is the reply of device.checks for one device.
type checksPayload struct {
	Device           string    `json:"device"`
	Selftest         *Report   `json:"selftest"`
	Calibration      *Report   `json:"calibration"`
	CalibrationState string    `json:"calibration_state"`
	CalibratedAt     time.Time `json:"calibrated_at,omitzero"`
}

func (s *Service) checksLocked(id string) checksPayload {
	out := checksPayload{Device: id}
	if rec := s.records[id]; rec != nil {
		out.Selftest, out.Calibration = rec.Selftest, rec.Calibration
	}
	out.CalibrationState, out.CalibratedAt = s.calibrationLocked(id)
	return out
}

// Selftest runs the device's self-test, saves and publishes the report.
func (s *Service) Selftest(ctx context.Context, id string) (*Report, error) {
	return s.run(ctx, id, RunSelftest)
}

// Calibrate runs the device's calibration, saves and publishes the report.
func (s *Service) Calibrate(ctx context.Context, id string) (*Report, error) {
	return s.run(ctx, id, RunCalibrate)
}

// Calibration returns a device's calibration state for packet manifests
// ("ok", "failed", "needs-calibration", "not-applicable") and when it was
// last calibrated (zero when never).
func (s *Service) Calibration(deviceID string) (state string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calibrationLocked(deviceID)
}

func (s *Service) calibrationLocked(id string) (string, time.Time) {
	kind := devices.Kind("")
	for _, st := range s.opts.Registry.Snapshot() {
		if st.Info.ID == id {
			kind = st.Info.Kind
			break
		}
	}
	rec := s.records[id]
	if rec == nil || rec.Calibration == nil {
		if kind != "" && !calibratable(kind) {
			return CalNotApplicable, time.Time{}
		}
		return CalNeeded, time.Time{}
	}
	c := rec.Calibration
	switch {
	case c.Result == NotAvailable:
		return CalNotApplicable, c.Finished
	case c.Result == Fail:
		return CalFailed, c.Finished
	case s.opts.CalibrationMaxAge > 0 && s.opts.Now().Sub(c.Finished) > s.opts.CalibrationMaxAge:
		return CalNeeded, c.Finished
	}
	return CalOK, c.Finished
}

// calibratable says whether devices of a kind have anything to calibrate.
func calibratable(k devices.Kind) bool {
	return k == devices.KindFingerprint || k == devices.KindSlap || k == devices.KindCamera
}

// progress reports steps of one run.
type progress struct {
	s      *Service
	device string
	run    string
	of     int
	step   int
}

func (p *progress) next(msg string) {
	p.step++
	if p.s.opts.Bus != nil {
		p.s.opts.Bus.Publish(bus.Message{Type: EventProgress,
			Payload: Progress{Device: p.device, Run: p.run, Step: p.step, Of: p.of, Message: msg}})
	}
}

// claim marks a device as under test; one run per device at a time, and
// never on a device the station is using.
func (s *Service) claim(id, run string) (devices.Device, devices.Status, error) {
	var st devices.Status
	found := false
	for _, x := range s.opts.Registry.Snapshot() {
		if x.Info.ID == id {
			st, found = x, true
			break
		}
	}
	if !found {
		return nil, st, refuse("not_found", "no device %q is configured", id)
	}
	dev, ok := s.opts.Registry.Get(id)
	if !ok {
		return nil, st, refuse("device_unavailable", "device %s is not connected (%s): plug it in and try again", id, st.Detail)
	}
	if st.State == devices.StateBusy {
		return nil, st, refuse("device_busy", "device %s is busy (%s): wait until the capture ends", id, st.Detail)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.running[id]; ok {
		return nil, st, refuse("device_busy", "device %s is already running a %s", id, cur)
	}
	s.running[id] = run
	return dev, st, nil
}

// Running says whether a self-test or calibration is running on a device
// (and which), so that the capture flow can refuse to use it meanwhile.
func (s *Service) Running(deviceID string) (run string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	run, ok = s.running[deviceID]
	return run, ok
}

func (s *Service) release(id string) {
	s.mu.Lock()
	delete(s.running, id)
	s.mu.Unlock()
}

// tester is one device family's self-test and calibration.
type tester interface {
	steps(run string) int
	selftest(ctx context.Context, p *progress) []Check
	calibrate(ctx context.Context, p *progress) []Check
}

func (s *Service) testerFor(dev devices.Device) tester {
	if t := scannerTester(s, dev); t != nil {
		return t
	}
	if t := readerTester(s, dev); t != nil {
		return t
	}
	if t := cameraTester(s, dev); t != nil {
		return t
	}
	return nil
}

func (s *Service) run(ctx context.Context, id, run string) (*Report, error) {
	dev, st, err := s.claim(id, run)
	if err != nil {
		return nil, err
	}
	defer s.release(id)
	ctx, cancel := context.WithTimeout(ctx, s.opts.RunTimeout)
	defer cancel()
	info := dev.Info()
	rep := &Report{Device: id, Kind: st.Info.Kind, Driver: st.Info.Driver, Run: run, Started: s.opts.Now().UTC()}
	if info.Kind != "" {
		rep.Kind = info.Kind
	}
	t := s.testerFor(dev)
	if t == nil {
		what := "self-test"
		if run == RunCalibrate {
			what = "calibration"
		}
		rep.Checks = []Check{{Name: run, Result: Skipped,
			Message: fmt.Sprintf("no %s for %s devices (driver %s)", what, rep.Kind, rep.Driver)}}
	} else {
		p := &progress{s: s, device: id, run: run, of: t.steps(run)}
		s.log.Info("device check started", "device", id, "run", run)
		if run == RunSelftest {
			rep.Checks = t.selftest(ctx, p)
		} else {
			rep.Checks = t.calibrate(ctx, p)
		}
	}
	rep.Finished = s.opts.Now().UTC()
	rep.Result = overall(rep.Checks)
	if errors.Is(ctx.Err(), context.Canceled) {
		// The technician went away mid-run: what ran is not a result.
		return nil, refuse("cancelled", "%s of %s cancelled", run, id)
	}
	if err := s.save(rep); err != nil {
		s.log.Error("device check results not saved", "device", id, "err", err)
		return nil, fmt.Errorf("%s of %s ran (%s) but its result could not be saved: %w", run, id, rep.Result, err)
	}
	s.log.Info("device check finished", "device", id, "run", run, "result", rep.Result)
	if s.opts.Bus != nil {
		s.opts.Bus.Publish(bus.Message{Type: EventResult, Payload: rep})
	}
	return rep, nil
}

// overall is the worst result of the checks that ran.
func overall(cs []Check) string {
	res := NotAvailable
	rank := map[string]int{NotAvailable: 0, Pass: 1, Warn: 2, Fail: 3}
	for _, c := range cs {
		if c.Result == Skipped {
			continue
		}
		if rank[c.Result] > rank[res] {
			res = c.Result
		}
	}
	return res
}

// save records a report in memory and on disk (atomically, fsynced).
func (s *Service) save(rep *Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.records[rep.Device]
	rec := &Record{Device: rep.Device}
	if old != nil {
		*rec = *old
	}
	if rep.Run == RunSelftest {
		rec.Selftest = rep
	} else {
		rec.Calibration = rep
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(s.opts.Dir, fileName(rep.Device)), b); err != nil {
		return err
	}
	s.records[rep.Device] = rec
	return nil
}

// fileName maps a device id onto a safe file name: letters, digits, '-'
// and '_' are kept, anything else is escaped as %XX.
func fileName(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String() + ".json"
}

// writeFileSync writes path through a temporary file, fsyncs it, renames
// it into place and fsyncs the directory, so a crash leaves the old file
// or the new one, never a torn one.
func writeFileSync(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
