package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
)

// Finalizer turns a complete session into a packet and queues it.
type Finalizer interface {
	// Build makes the packet for a session in review. read returns the
	// bytes of the session's stored images by file name. The packet's id
	// must be its content hash.
	Build(ctx context.Context, s *Session, read func(file string) ([]byte, error)) (id string, packet []byte, err error)
	// Enqueue stores the packet durably (fsynced) in the outbox. It must be
	// idempotent: enqueueing an id the outbox already holds succeeds.
	Enqueue(ctx context.Context, id string, packet []byte) error
}

// Event tells an observer a session changed.
type Event struct {
	Type    string         // session.started, session.updated, session.finalized, session.abandoned
	Session map[string]any // Summary(): no image bytes
}

// Manager keeps the station's sessions on disk under one directory.
type Manager struct {
	dir      string
	fin      Finalizer
	observer func(Event)
	log      *slog.Logger
	now      func() time.Time

	mu       sync.Mutex
	sessions map[string]*Session // not yet finalized or abandoned
}

// Options configure a Manager.
type Options struct {
	Dir       string
	Finalizer Finalizer
	Observer  func(Event) // called with the manager's lock held: must not block or call back
	Logger    *slog.Logger
}

const stateFile = "session.json"
const packetFile = "packet.bin"

// Open loads the sessions stored in dir (creating it if needed) in the
// state they were left in. Call Recover to finish those caught finalizing.
func Open(opts Options) (*Manager, error) {
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("session store %s: %w", opts.Dir, err)
	}
	m := &Manager{dir: opts.Dir, fin: opts.Finalizer, observer: opts.Observer, log: opts.Logger,
		now: func() time.Time { return time.Now().UTC() }, sessions: map[string]*Session{}}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.observer == nil {
		m.observer = func(Event) {}
	}
	ents, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("session store %s: %w", opts.Dir, err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(opts.Dir, e.Name(), stateFile))
		if errors.Is(err, fs.ErrNotExist) {
			// Created but its first state never committed: nothing was
			// acknowledged to the officer, so nothing is lost by removing it.
			os.RemoveAll(filepath.Join(opts.Dir, e.Name()))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("session %s: %w", e.Name(), err)
		}
		var s Session
		if err := json.Unmarshal(data, &s); err != nil || s.ID != e.Name() {
			// Never delete what cannot be read: set it aside for a technician.
			m.log.Error("session state unreadable; moved aside", "session", e.Name(), "err", err)
			os.Rename(filepath.Join(opts.Dir, e.Name()), filepath.Join(opts.Dir, e.Name()+".unreadable"))
			continue
		}
		if s.Fingers == nil {
			s.Fingers = map[int]*Finger{}
		}
		switch s.State {
		case Finalized, Abandoned:
			os.RemoveAll(filepath.Join(opts.Dir, s.ID)) // the crash came after its end was recorded
		default:
			m.sessions[s.ID] = &s
		}
	}
	return m, nil
}

// Recover finishes sessions that were finalizing when stationd stopped: the
// same packet (same id) reaches the outbox exactly once.
func (m *Manager) Recover(ctx context.Context) error {
	var errs []error
	for _, s := range m.List() {
		if s.State != Finalizing {
			continue
		}
		m.log.Info("finishing a session interrupted while finalizing", "session", s.ID)
		if _, err := m.finalize(ctx, s.ID); err != nil {
			errs = append(errs, fmt.Errorf("session %s: %w", s.ID, err))
		}
	}
	return errors.Join(errs...)
}

// List returns copies of the open sessions, oldest first.
func (m *Manager) List() []*Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		out = append(out, clone(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Opened.Before(out[j].Opened) })
	return out
}

// Get returns a copy of an open session.
func (m *Manager) Get(id string) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return nil, ErrNotFound
	}
	return clone(s), nil
}

func clone(s *Session) *Session {
	b, _ := json.Marshal(s)
	var c Session
	json.Unmarshal(b, &c)
	if c.Fingers == nil {
		c.Fingers = map[int]*Finger{}
	}
	return &c
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Start opens a new session.
func (m *Manager) Start(applicant, operator, station string, p Policy) (*Session, error) {
	if !validRef(applicant) {
		return nil, refuse("start", "applicant reference must be 1-64 letters, digits or -_./")
	}
	if !validRef(operator) {
		return nil, refuse("start", "operator id must be 1-64 letters, digits or -_./")
	}
	if err := p.Validate(); err != nil {
		return nil, refuse("start", "policy: %v", err)
	}
	now := m.now()
	s := &Session{ID: newID(), Applicant: applicant, Operator: operator, Station: station, Policy: p,
		State: Capturing, Opened: now, Updated: now, Fingers: map[int]*Finger{}}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.sessions {
		if o.Applicant == applicant && (o.State == Capturing || o.State == Review) {
			return nil, refuse("start", "applicant %s already has an open session (%s)", applicant, o.ID)
		}
	}
	if err := os.Mkdir(filepath.Join(m.dir, s.ID), 0o700); err != nil {
		return nil, err
	}
	if err := m.saveLocked(s); err != nil {
		os.RemoveAll(filepath.Join(m.dir, s.ID))
		return nil, err
	}
	m.sessions[s.ID] = s
	m.observer(Event{Type: "session.started", Session: s.Summary()})
	return clone(s), nil
}

// update applies fn to a copy of the session, saves it, and only then
// makes it the session's state: a failed write changes nothing.
func (m *Manager) update(id, op string, fn func(s *Session) error) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.updateLocked(id, op, fn)
}

func (m *Manager) updateLocked(id, op string, fn func(s *Session) error) (*Session, error) {
	cur, ok := m.sessions[id]
	if !ok {
		return nil, ErrNotFound
	}
	s := clone(cur)
	if err := fn(s); err != nil {
		return nil, err
	}
	s.Rev++
	s.Updated = m.now()
	if err := m.saveLocked(s); err != nil {
		return nil, fmt.Errorf("%s: saving session: %w", op, err)
	}
	m.sessions[id] = s
	typ := "session.updated"
	switch s.State {
	case Finalized:
		typ = "session.finalized"
	case Abandoned:
		typ = "session.abandoned"
	}
	m.observer(Event{Type: typ, Session: s.Summary()})
	return clone(s), nil
}

func (m *Manager) saveLocked(s *Session) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	return writeFileSync(filepath.Join(m.dir, s.ID), stateFile, b)
}

// writeFileSync writes name in dir atomically and durably: a temporary file,
// fsync, rename over the old one, fsync of the directory.
func writeFileSync(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
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

// storeBlob writes image bytes beside the session, named by content, before
// any state refers to them.
func (m *Manager) storeBlob(id, prefix, ext string, data []byte) (file, sum string, err error) {
	h := sha256.Sum256(data)
	sum = hex.EncodeToString(h[:])
	file = prefix + "-" + sum[:16] + "." + ext
	return file, sum, writeFileSync(filepath.Join(m.dir, id), file, data)
}

// ReadBlob returns the bytes of one of a session's stored images.
func (m *Manager) ReadBlob(id, file string) ([]byte, error) {
	if filepath.Base(file) != file || file == stateFile || file == packetFile {
		return nil, fmt.Errorf("session %s: %q is not an image of the session", id, file)
	}
	return os.ReadFile(filepath.Join(m.dir, id, file))
}

// Capture is an image with its quality, as the capture flow hands it over.
type Capture struct {
	Data          []byte // encoded (PNG for fingers, JPEG for the face)
	Format        string // "png" or "jpeg"
	Width, Height int
	PPI           int
	Score         int
	Reasons       []string
	Device        string
	DeviceUse     *DeviceUse
}

// AddFingerAttempt records one capture of a finger and keeps it if it is the
// best so far.
func (m *Manager) AddFingerAttempt(id string, pos int, c Capture) (*Session, error) {
	const op = "finger"
	if pos < 1 || pos > 10 {
		return nil, refuse(op, "%d is not a finger position", pos)
	}
	if c.Score < 0 || c.Score > 100 {
		return nil, refuse(op, "score %d outside 0-100", c.Score)
	}
	if len(c.Data) == 0 {
		return nil, refuse(op, "empty image")
	}
	if err := m.precheck(id, op, func(s *Session) error {
		if !s.inPolicy(pos) {
			return refuse(op, "%s is not to be captured in this session", FingerName(pos))
		}
		f := s.Fingers[pos]
		if f != nil && f.Exception != nil {
			return refuse(op, "%s has an exception (%s); clear it first", FingerName(pos), f.Exception.Kind)
		}
		if f != nil && len(f.Attempts) >= s.Policy.MaxAttempts {
			return refuse(op, "%s already has %d attempts, the most allowed", FingerName(pos), len(f.Attempts))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	file, sum, err := m.storeBlob(id, fmt.Sprintf("finger%02d", pos), c.Format, c.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: storing image: %w", op, err)
	}
	return m.update(id, op, func(s *Session) error {
		if err := s.mustCapture(op); err != nil {
			return err
		}
		f := s.finger(pos)
		if len(f.Attempts) >= s.Policy.MaxAttempts || f.Exception != nil {
			return refuse(op, "%s changed meanwhile; try again", FingerName(pos))
		}
		f.Attempts = append(f.Attempts, Attempt{Time: m.now(), Score: c.Score, Reasons: c.Reasons, Device: c.Device})
		if f.Best == nil || c.Score > f.Best.Score {
			f.Best = &Image{File: file, Format: c.Format, Width: c.Width, Height: c.Height, PPI: c.PPI, SHA256: sum, Score: c.Score}
			f.BestOf = len(f.Attempts) - 1
		}
		s.noteDevice(c)
		return nil
	})
}

// SetSlap keeps the whole image of a slap (13 right four, 14 left four, 15
// two thumbs) whose fingers were recorded, with each finger's box on it,
// in place of any earlier slap of the same kind.
func (m *Manager) SetSlap(id string, slap int, c Capture, segs []Segment) (*Session, error) {
	const op = "slap"
	fingers := SlapFingers(slap)
	if fingers == nil {
		return nil, refuse(op, "%d is not a slap position (13-15)", slap)
	}
	if len(c.Data) == 0 || c.Width < 1 || c.Height < 1 {
		return nil, refuse(op, "empty image")
	}
	if len(segs) == 0 {
		return nil, refuse(op, "%s: no finger found on it", SlapName(slap))
	}
	seen := map[int]bool{}
	for _, g := range segs {
		switch {
		case !slices.Contains(fingers, g.Position) || seen[g.Position]:
			return nil, refuse(op, "%s: %s cannot be on it, or is given twice", SlapName(slap), FingerName(g.Position))
		case g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > c.Width || g.Y+g.H > c.Height:
			return nil, refuse(op, "%s: %s box %dx%d at (%d,%d) is outside the %dx%d image", SlapName(slap),
				FingerName(g.Position), g.W, g.H, g.X, g.Y, c.Width, c.Height)
		case g.Score < 0 || g.Score > 100:
			return nil, refuse(op, "%s: %s score %d outside 0-100", SlapName(slap), FingerName(g.Position), g.Score)
		case g.Outline != nil && (len(g.Outline) < 3 || len(g.Outline) > 99):
			return nil, refuse(op, "%s: %s outline has %d corners, want 3-99", SlapName(slap), FingerName(g.Position), len(g.Outline))
		}
		for _, p := range g.Outline {
			if p[0] < 0 || p[1] < 0 || p[0] >= c.Width || p[1] >= c.Height {
				return nil, refuse(op, "%s: %s outline corner (%d,%d) is outside the %dx%d image", SlapName(slap),
					FingerName(g.Position), p[0], p[1], c.Width, c.Height)
			}
		}
		seen[g.Position] = true
	}
	if err := m.precheck(id, op, func(s *Session) error { return s.mustCapture(op) }); err != nil {
		return nil, err
	}
	file, sum, err := m.storeBlob(id, fmt.Sprintf("slap%02d", slap), c.Format, c.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: storing image: %w", op, err)
	}
	return m.update(id, op, func(s *Session) error {
		if err := s.mustCapture(op); err != nil {
			return err
		}
		if s.Slaps == nil {
			s.Slaps = map[int]*Slap{}
		}
		s.Slaps[slap] = &Slap{Image: Image{File: file, Format: c.Format, Width: c.Width, Height: c.Height, PPI: c.PPI, SHA256: sum},
			Segments: cloneSegments(segs), Device: c.Device, Time: m.now()}
		s.noteDevice(c)
		return nil
	})
}

func cloneSegments(segs []Segment) []Segment {
	out := slices.Clone(segs)
	for i := range out {
		out[i].Outline = slices.Clone(out[i].Outline)
	}
	return out
}

func (s *Session) noteDevice(c Capture) {
	if c.Device == "" || c.DeviceUse == nil {
		return
	}
	if s.Devices == nil {
		s.Devices = map[string]DeviceUse{}
	}
	s.Devices[c.Device] = *c.DeviceUse
}

// precheck validates against the current state before expensive work
// (writing an image); update validates again.
func (m *Manager) precheck(id, op string, fn func(s *Session) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return ErrNotFound
	}
	if err := s.mustCapture(op); err != nil {
		return err
	}
	return fn(s)
}

// SetFace keeps a portrait (replacing an earlier one).
func (m *Manager) SetFace(id string, c Capture) (*Session, error) {
	const op = "face"
	if len(c.Data) == 0 {
		return nil, refuse(op, "empty image")
	}
	if err := m.precheck(id, op, func(*Session) error { return nil }); err != nil {
		return nil, err
	}
	file, sum, err := m.storeBlob(id, "face", c.Format, c.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: storing image: %w", op, err)
	}
	return m.update(id, op, func(s *Session) error {
		if err := s.mustCapture(op); err != nil {
			return err
		}
		n := 1
		if s.Face != nil {
			n = s.Face.Attempts + 1
		}
		s.Face = &Face{Image: Image{File: file, Format: c.Format, Width: c.Width, Height: c.Height, SHA256: sum, Score: c.Score},
			Reasons: c.Reasons, Attempts: n, Device: c.Device, Time: m.now()}
		s.noteDevice(c)
		return nil
	})
}

// Except records that a finger cannot be captured. photo (JPEG) may be nil
// unless the policy requires one.
func (m *Manager) Except(id string, pos int, kind ExceptionKind, reason string, photo []byte) (*Session, error) {
	const op = "exception"
	switch kind {
	case Amputated, Bandaged, Unable:
	default:
		return nil, refuse(op, "%q is not an exception kind (amputated, bandaged, unable)", kind)
	}
	if len(reason) > 200 {
		return nil, refuse(op, "reason longer than 200 characters")
	}
	var photoImg *Image
	err := m.precheck(id, op, func(s *Session) error {
		if !s.inPolicy(pos) {
			return refuse(op, "%s is not to be captured in this session", FingerName(pos))
		}
		if s.Policy.ExceptionPhoto && len(photo) == 0 {
			return refuse(op, "a photo of the hand is required for an exception")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(photo) > 0 {
		file, sum, err := m.storeBlob(id, fmt.Sprintf("except%02d", pos), "jpeg", photo)
		if err != nil {
			return nil, err
		}
		photoImg = &Image{File: file, Format: "jpeg", SHA256: sum}
	}
	return m.update(id, op, func(s *Session) error {
		if err := s.mustCapture(op); err != nil {
			return err
		}
		s.finger(pos).Exception = &Exception{Kind: kind, Reason: reason, Photo: photoImg, Time: m.now()}
		return nil
	})
}

// ClearException removes a finger's exception (marked by mistake).
func (m *Manager) ClearException(id string, pos int) (*Session, error) {
	return m.update(id, "exception", func(s *Session) error {
		if err := s.mustCapture("exception"); err != nil {
			return err
		}
		f := s.Fingers[pos]
		if f == nil || f.Exception == nil {
			return refuse("exception", "%s has no exception", FingerName(pos))
		}
		f.Exception = nil
		return nil
	})
}

// SetCard records the chip-card step's outcome.
func (m *Manager) SetCard(id string, r CardResult) (*Session, error) {
	return m.update(id, "card", func(s *Session) error {
		if err := s.mustCapture("card"); err != nil {
			return err
		}
		if s.Policy.Card == CardNone {
			return refuse("card", "this session has no chip card step")
		}
		if r.Mode != s.Policy.Card {
			return refuse("card", "result is for %s, the session expects %s", r.Mode, s.Policy.Card)
		}
		if r.Time.IsZero() {
			r.Time = m.now()
		}
		s.Card = &r
		return nil
	})
}

// ToReview moves a complete session to review; it refuses, listing what is
// missing, otherwise.
func (m *Manager) ToReview(id string) (*Session, error) {
	return m.update(id, "review", func(s *Session) error {
		if err := s.mustCapture("review"); err != nil {
			return err
		}
		if miss := s.Missing(); len(miss) > 0 {
			return refuse("review", "not complete: %s", joinMissing(miss))
		}
		s.State = Review
		return nil
	})
}

func joinMissing(m []string) string {
	if len(m) > 4 {
		return fmt.Sprintf("%s; %s; %s and %d more", m[0], m[1], m[2], len(m)-3)
	}
	out := m[0]
	for _, x := range m[1:] {
		out += "; " + x
	}
	return out
}

// BackToCapture reopens a session in review for more capture.
func (m *Manager) BackToCapture(id string) (*Session, error) {
	return m.update(id, "back", func(s *Session) error {
		if s.State != Review {
			return refuse("back", "session is %s, not in review", s.State)
		}
		s.State = Capturing
		return nil
	})
}

// Abandon ends a session without a packet and deletes its captures.
func (m *Manager) Abandon(id, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.updateLocked(id, "abandon", func(s *Session) error {
		if s.State != Capturing && s.State != Review {
			return refuse("abandon", "session is %s", s.State)
		}
		s.State, s.Abandon = Abandoned, reason
		return nil
	})
	if err != nil {
		return err
	}
	delete(m.sessions, id)
	return os.RemoveAll(filepath.Join(m.dir, id))
}

// Finalize builds the session's packet and queues it in the outbox. When it
// returns nil, the packet is on disk in the outbox: the officer may be told
// "saved".
func (m *Manager) Finalize(ctx context.Context, id string) (string, error) {
	if _, err := m.update(id, "finalize", func(s *Session) error {
		if s.State != Review {
			return refuse("finalize", "session is %s; finalize from review", s.State)
		}
		if miss := s.Missing(); len(miss) > 0 { // the policy may not have changed, but check anyway
			return refuse("finalize", "not complete: %s", joinMissing(miss))
		}
		s.State = Finalizing
		return nil
	}); err != nil {
		return "", err
	}
	return m.finalize(ctx, id)
}

// finalize runs, or resumes, the steps after the session entered
// Finalizing: build (once), keep the packet with the session, queue it,
// mark the session finalized, remove its files.
func (m *Manager) finalize(ctx context.Context, id string) (string, error) {
	if m.fin == nil {
		return "", refuse("finalize", "this station has no outbox configured")
	}
	s, err := m.Get(id)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(m.dir, id)
	var pkt []byte
	if s.PacketID != "" {
		// Built before a crash: queue exactly those bytes, never a rebuild
		// (encryption is randomised: a rebuild would be another packet).
		if pkt, err = os.ReadFile(filepath.Join(dir, packetFile)); err != nil {
			return "", fmt.Errorf("finalize: packet %s kept with the session is unreadable: %w", s.PacketID, err)
		}
	} else {
		pid, b, err := m.fin.Build(ctx, s, func(file string) ([]byte, error) { return m.ReadBlob(id, file) })
		if err != nil {
			return "", fmt.Errorf("finalize: building packet: %w", err)
		}
		if err := writeFileSync(dir, packetFile, b); err != nil {
			return "", fmt.Errorf("finalize: keeping packet: %w", err)
		}
		if _, err := m.update(id, "finalize", func(s *Session) error { s.PacketID = pid; return nil }); err != nil {
			return "", err
		}
		s.PacketID, pkt = pid, b
	}
	if err := m.fin.Enqueue(ctx, s.PacketID, pkt); err != nil {
		return "", fmt.Errorf("finalize: queueing packet: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.updateLocked(id, "finalize", func(s *Session) error { s.State = Finalized; return nil }); err != nil {
		// The packet is queued; on restart the session is finalized again
		// (Enqueue is idempotent), so nothing is lost or doubled.
		return s.PacketID, nil
	}
	delete(m.sessions, id)
	if err := os.RemoveAll(dir); err != nil {
		m.log.Warn("removing finalized session files", "session", id, "err", err)
	}
	return s.PacketID, nil
}
