package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// memOutbox is a Finalizer whose packets are the session's JSON plus a
// random nonce (as encryption would make them), with an outbox in memory.
type memOutbox struct {
	mu       sync.Mutex
	held     map[string][]byte
	builds   int
	failOnce string // "build" or "enqueue": fail that step once
}

func (o *memOutbox) Build(ctx context.Context, s *Session, read func(string) ([]byte, error)) (string, []byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failOnce == "build" {
		o.failOnce = ""
		return "", nil, errors.New("injected build failure")
	}
	o.builds++
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%d|", s.ID, o.builds)
	for _, pos := range s.Policy.FingerOrder {
		if f := s.Fingers[pos]; f != nil && f.Best != nil {
			data, err := read(f.Best.File)
			if err != nil {
				return "", nil, err
			}
			fmt.Fprintf(&b, "%d:%x|", pos, sha256.Sum256(data))
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:]), []byte(b.String()), nil
}

func (o *memOutbox) Enqueue(ctx context.Context, id string, p []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failOnce == "enqueue" {
		o.failOnce = ""
		return errors.New("injected enqueue failure")
	}
	if o.held == nil {
		o.held = map[string][]byte{}
	}
	o.held[id] = p
	return nil
}

func smallPolicy() Policy {
	p := DefaultPolicy()
	p.FingerOrder = []int{RightIndex, LeftIndex}
	p.MaxAttempts = 2
	p.DefaultThreshold = 50
	return p
}

func png(n byte) Capture {
	return Capture{Data: []byte{0x89, 'P', 'N', 'G', n}, Format: "png", Width: 10, Height: 10, PPI: 500, Score: int(n)}
}

func open(t *testing.T, dir string, o *memOutbox, events *[]string) *Manager {
	t.Helper()
	m, err := Open(Options{Dir: dir, Finalizer: o, Observer: func(e Event) {
		if events != nil {
			*events = append(*events, e.Type)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func complete(t *testing.T, m *Manager, id string) {
	t.Helper()
	if _, err := m.SetFace(id, Capture{Data: []byte("jpeg"), Format: "jpeg", Score: 80}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddFingerAttempt(id, RightIndex, png(70)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Except(id, LeftIndex, Bandaged, "bandage on left hand", nil); err != nil {
		t.Fatal(err)
	}
}

func TestTransitionsValidated(t *testing.T) {
	var events []string
	m := open(t, t.TempDir(), &memOutbox{}, &events)
	s, err := m.Start("APP-0001", "officer7", "booth", smallPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start("APP-0001", "officer7", "booth", smallPolicy()); err == nil {
		t.Fatal("second open session for the same applicant accepted")
	}
	if _, err := m.Start("bad ref!", "officer7", "booth", smallPolicy()); err == nil {
		t.Fatal("bad applicant reference accepted")
	}
	// Incomplete: review refused with what is missing.
	_, err = m.ToReview(s.ID)
	var se *Error
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "portrait not taken") || !strings.Contains(err.Error(), "right index") {
		t.Fatalf("review of empty session: %v", err)
	}
	if _, err := m.AddFingerAttempt(s.ID, RightThumb, png(60)); err == nil {
		t.Fatal("finger outside the policy accepted")
	}
	// Best of N: a worse second attempt does not replace the first.
	m.AddFingerAttempt(s.ID, RightIndex, png(45))
	got, _ := m.AddFingerAttempt(s.ID, RightIndex, png(30))
	f := got.Fingers[RightIndex]
	if len(f.Attempts) != 2 || f.Best.Score != 45 || f.BestOf != 0 {
		t.Fatalf("best of N: %+v", f)
	}
	if _, err := m.AddFingerAttempt(s.ID, RightIndex, png(90)); err == nil {
		t.Fatal("attempt beyond max accepted")
	}
	// Below threshold but out of attempts: done, because the policy accepts it.
	if !got.FingerDone(RightIndex) {
		t.Fatal("finger with exhausted attempts should be done under AcceptBelowThreshold")
	}
	if _, err := m.Except(s.ID, LeftIndex, "lost", "x", nil); err == nil {
		t.Fatal("unknown exception kind accepted")
	}
	m.Except(s.ID, LeftIndex, Amputated, "since 2019", nil)
	if _, err := m.AddFingerAttempt(s.ID, LeftIndex, png(60)); err == nil {
		t.Fatal("capture of an excepted finger accepted")
	}
	m.SetFace(s.ID, Capture{Data: []byte("jpeg"), Format: "jpeg", Score: 80})
	if _, err := m.Finalize(context.Background(), s.ID); err == nil {
		t.Fatal("finalize from capturing accepted")
	}
	if _, err := m.ToReview(s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddFingerAttempt(s.ID, RightIndex, png(60)); err == nil {
		t.Fatal("capture during review accepted")
	}
	id, err := m.Finalize(context.Background(), s.ID)
	if err != nil || id == "" {
		t.Fatalf("finalize: %q %v", id, err)
	}
	if _, err := m.Get(s.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("finalized session still open")
	}
	if _, err := os.Stat(filepath.Join(m.dir, s.ID)); !os.IsNotExist(err) {
		t.Fatal("finalized session's files not removed")
	}
	want := []string{"session.started", "session.updated", "session.finalized"}
	if events[0] != want[0] || events[len(events)-1] != want[2] {
		t.Fatalf("events: %v", events)
	}
}

func TestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	o := &memOutbox{}
	m := open(t, dir, o, nil)
	s, _ := m.Start("APP-2", "op", "booth", smallPolicy())
	m.AddFingerAttempt(s.ID, RightIndex, png(77))
	m2 := open(t, dir, o, nil) // as after a crash: no Close
	got, err := m2.Get(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Capturing || got.Fingers[RightIndex].Best.Score != 77 || got.Rev != s.Rev+1 {
		t.Fatalf("after restart: %+v", got)
	}
	data, err := m2.ReadBlob(s.ID, got.Fingers[RightIndex].Best.File)
	if err != nil || string(data) != string(png(77).Data) {
		t.Fatalf("image after restart: %q %v", data, err)
	}
	if _, err := m2.ReadBlob(s.ID, "../x"); err == nil {
		t.Fatal("path escape accepted")
	}
}

// A failure (or crash) after the packet was built and kept must queue the
// very same packet on recovery: one packet id, one outbox entry.
func TestFinalizeRecoversSamePacket(t *testing.T) {
	for _, fail := range []string{"build", "enqueue"} {
		t.Run(fail, func(t *testing.T) {
			dir := t.TempDir()
			o := &memOutbox{}
			m := open(t, dir, o, nil)
			s, _ := m.Start("APP-3", "op", "booth", smallPolicy())
			complete(t, m, s.ID)
			m.ToReview(s.ID)
			o.failOnce = fail
			if _, err := m.Finalize(context.Background(), s.ID); err == nil {
				t.Fatal("injected failure not reported")
			}
			kept, _ := m.Get(s.ID)
			if kept.State != Finalizing {
				t.Fatalf("state after failure: %s", kept.State)
			}
			m2 := open(t, dir, o, nil)
			if err := m2.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(o.held) != 1 {
				t.Fatalf("outbox holds %d packets", len(o.held))
			}
			if fail == "enqueue" && o.builds != 1 {
				t.Fatalf("packet rebuilt after it was kept: %d builds", o.builds)
			}
			if kept.PacketID != "" {
				if _, ok := o.held[kept.PacketID]; !ok {
					t.Fatal("recovered packet is not the one built before the failure")
				}
			}
			if len(m2.List()) != 0 {
				t.Fatal("session still open after recovery")
			}
		})
	}
}

func TestAbandonDeletesCaptures(t *testing.T) {
	m := open(t, t.TempDir(), &memOutbox{}, nil)
	s, _ := m.Start("APP-4", "op", "booth", smallPolicy())
	m.AddFingerAttempt(s.ID, RightIndex, png(60))
	if err := m.Abandon(s.ID, "applicant left"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(m.dir, s.ID)); !os.IsNotExist(err) {
		t.Fatal("abandoned session's images kept")
	}
	if err := m.Abandon(s.ID, "again"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second abandon: %v", err)
	}
}

func TestUnreadableStateSetAside(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "abc"), 0o700)
	os.WriteFile(filepath.Join(dir, "abc", stateFile), []byte("{not json"), 0o600)
	m := open(t, dir, &memOutbox{}, nil)
	if len(m.List()) != 0 {
		t.Fatal("unreadable session loaded")
	}
	if _, err := os.Stat(filepath.Join(dir, "abc.unreadable")); err != nil {
		t.Fatal("unreadable session not kept aside")
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(*Policy){
		func(p *Policy) { p.FingerOrder = []int{1, 1} },
		func(p *Policy) { p.FingerOrder = []int{11} },
		func(p *Policy) { p.MaxAttempts = 0 },
		func(p *Policy) { p.Card = "steal" },
		func(p *Policy) { p.Threshold = map[int]int{3: 101} },
	}
	for i, f := range bad {
		p := DefaultPolicy()
		f(&p)
		if p.Validate() == nil {
			t.Errorf("bad policy %d accepted", i)
		}
	}
}

func TestSlapKept(t *testing.T) {
	dir := t.TempDir()
	o := &memOutbox{}
	m := open(t, dir, o, nil)
	s, _ := m.Start("APP-3", "op", "booth", smallPolicy())
	img := Capture{Data: []byte("slap-png-1"), Format: "png", Width: 800, Height: 600, PPI: 500, Device: "slap0"}
	segs := []Segment{{Position: RightIndex, X: 40, Y: 50, W: 150, H: 300, Score: 70, Outline: [][2]int{{60, 50}, {190, 70}, {170, 349}, {40, 330}}},
		{Position: RightLittle, X: 600, Y: 200, W: 150, H: 250, Score: 55}}
	for name, c := range map[string]struct {
		slap int
		segs []Segment
		want string
	}{
		"not a slap":          {RightIndex, segs, "not a slap position"},
		"left finger":         {SlapRightFour, []Segment{{Position: LeftIndex, W: 1, H: 1}}, "left index cannot be on it"},
		"finger twice":        {SlapRightFour, []Segment{segs[0], segs[0]}, "given twice"},
		"box outside":         {SlapRightFour, []Segment{{Position: RightIndex, X: 700, Y: 0, W: 101, H: 10}}, "outside the 800x600 image"},
		"no finger":           {SlapThumbs, nil, "no finger found"},
		"score out of range":  {SlapRightFour, []Segment{{Position: RightIndex, W: 1, H: 1, Score: 101}}, "outside 0-100"},
		"thumb on four slaps": {SlapLeftFour, []Segment{{Position: LeftThumb, W: 1, H: 1}}, "cannot be on it"},
		"outline outside":     {SlapRightFour, []Segment{{Position: RightIndex, W: 1, H: 1, Outline: [][2]int{{0, 0}, {800, 0}, {0, 5}}}}, "outline corner (800,0) is outside"},
		"two-point outline":   {SlapRightFour, []Segment{{Position: RightIndex, W: 1, H: 1, Outline: [][2]int{{0, 0}, {8, 0}}}}, "outline has 2 corners"},
	} {
		if _, err := m.SetSlap(s.ID, c.slap, img, c.segs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	if _, err := m.SetSlap(s.ID, SlapRightFour, img, segs); err != nil {
		t.Fatal(err)
	}
	// A retaken slap replaces the first.
	img2 := img
	img2.Data = []byte("slap-png-2")
	got, err := m.SetSlap(s.ID, SlapRightFour, img2, segs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Slaps) != 1 || len(got.Slaps[SlapRightFour].Segments) != 1 {
		t.Fatalf("slaps %+v", got.Slaps)
	}
	if sum := got.Summary()["slaps"]; fmt.Sprint(sum) != "[13]" {
		t.Errorf("summary slaps %v", sum)
	}
	// It survives a crash, bytes and all, and names the device used.
	m2 := open(t, dir, o, nil)
	after, err := m2.Get(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	sl := after.Slaps[SlapRightFour]
	if sl == nil || sl.Image.Width != 800 || sl.Image.PPI != 500 || sl.Device != "slap0" || !reflect.DeepEqual(sl.Segments[0], segs[0]) {
		t.Fatalf("after restart: %+v", sl)
	}
	if data, err := m2.ReadBlob(s.ID, sl.Image.File); err != nil || string(data) != "slap-png-2" {
		t.Fatalf("slap image after restart: %q %v", data, err)
	}
	// Only while capturing.
	complete(t, m2, s.ID)
	if _, err := m2.ToReview(s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m2.SetSlap(s.ID, SlapRightFour, img, segs); err == nil || !strings.Contains(err.Error(), "not capturing") {
		t.Errorf("slap set in review: %v", err)
	}
}
