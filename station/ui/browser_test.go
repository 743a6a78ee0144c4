package ui_test

// Browser tests: the operator UI in headless Chromium, driven by chromedp,
// against an in-process stationd API whose commands keep real sessions
// (station/session) but fake the captures. The whole-booth test on
// simulated devices is cmd/stationd/ui_test.go.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/bus"
	"github.com/openenroll/stationd/station/session"
	"github.com/openenroll/stationd/station/ui/uitest"
)

// fakeDevice is a device attached to the registry by the test.
type fakeDevice struct{ info devices.Info }

func (d *fakeDevice) Info() devices.Info { return d.info }
func (d *fakeDevice) Close() error       { return nil }

// backend is stationd's API with real sessions and scripted captures.
type backend struct {
	t        testing.TB
	reg      *devices.Registry
	bus      *bus.Bus
	sessions *session.Manager
	srv      *api.Server
	hs       *httptest.Server
	mu       sync.Mutex
	scores   map[int][]int // position -> scores of successive attempts
	saved    []string
	selftest int
}

type fin struct{}

func (fin) Build(ctx context.Context, s *session.Session, read func(string) ([]byte, error)) (string, []byte, error) {
	b, _ := json.Marshal(s.Summary())
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), b, nil
}
func (fin) Enqueue(ctx context.Context, id string, b []byte) error { return nil }

const token = "browser-test-token-0001"

func newBackend(t testing.TB) *backend {
	b := &backend{t: t, bus: bus.New(), scores: map[int][]int{3: {22, 71}}}
	b.reg = devices.NewRegistry(devices.Options{})
	var err error
	b.sessions, err = session.Open(session.Options{Dir: t.TempDir(), Finalizer: fin{},
		Observer: func(e session.Event) { b.bus.Publish(bus.Message{Type: e.Type, Payload: e.Session}) }})
	if err != nil {
		t.Fatal(err)
	}
	pw, err := api.HashPassword("mật-khẩu-1")
	if err != nil {
		t.Fatal(err)
	}
	auth, err := api.NewAuth(api.AuthOptions{Token: token, Accounts: []api.Account{{Name: "officer-1", Role: api.RoleOperator, PasswordHash: pw}}})
	if err != nil {
		t.Fatal(err)
	}
	b.srv = api.New(api.Options{Registry: b.reg, Bus: b.bus, Auth: auth, StationID: "booth-test", Commands: b.commands()})
	b.hs = httptest.NewServer(b.srv.Handler())
	t.Cleanup(func() { b.hs.Close(); b.srv.Close(); b.bus.Close(); b.reg.Close() })
	return b
}

func (b *backend) attach(id string, kind devices.Kind) devices.Reporter {
	rep, err := b.reg.Attach(&fakeDevice{devices.Info{ID: id, Kind: kind, Driver: "fake", Vendor: "Test", Model: "M1", Serial: "SN-" + id}})
	if err != nil {
		b.t.Fatal(err)
	}
	return rep
}

func decode[T any](p json.RawMessage) (T, error) {
	var v T
	err := json.Unmarshal(p, &v)
	return v, err
}

type sref struct {
	Session  string `json:"session"`
	Position int    `json:"position"`
	Kind     string `json:"kind"`
	Reason   string `json:"reason"`
	Manual   bool   `json:"manual"`
	Device   string `json:"device"`
}

func grayPNG(w, h int, seed byte) []byte {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Pix[y*w+x] = byte((x*7+y*3)%40*5) + seed
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

func faceJPEG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(120 + x%60), uint8(110 + y%50), 100, 255})
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
	return buf.Bytes()
}

func (b *backend) commands() map[string]api.CommandFunc {
	summary := func(s *session.Session, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		return s.Summary(), nil
	}
	pol := session.DefaultPolicy()
	return map[string]api.CommandFunc{
		"session.start": func(ctx context.Context, p json.RawMessage) (any, error) {
			in, err := decode[struct{ Applicant, Operator string }](p)
			if err != nil {
				return nil, err
			}
			return summary(b.sessions.Start(in.Applicant, in.Operator, "booth-test", pol))
		},
		"session.get": func(ctx context.Context, p json.RawMessage) (any, error) {
			in, _ := decode[sref](p)
			return summary(b.sessions.Get(in.Session))
		},
		"session.list": func(ctx context.Context, p json.RawMessage) (any, error) {
			out := []any{}
			for _, s := range b.sessions.List() {
				out = append(out, s.Summary())
			}
			return map[string]any{"sessions": out}, nil
		},
		"session.face.capture": func(ctx context.Context, p json.RawMessage) (any, error) {
			in, _ := decode[sref](p)
			jpg := faceJPEG(320, 240)
			// A few live frames as the camera would send them, the last
			// with every check passing.
			for i := range 3 {
				// The shape of station/enroll's facePreview.
				var reasons []map[string]string
				if i < 2 {
					reasons = []map[string]string{{"code": "light.too_dark", "message": "Too dark: add light on the face"}}
				}
				b.bus.Publish(bus.Message{Type: "preview.face", Preview: true, Binary: jpg, Payload: map[string]any{
					"format": "jpeg", "width": 320, "height": 240, "scale": 1,
					"box":    map[string]any{"Min": map[string]int{"X": 110, "Y": 50}, "Max": map[string]int{"X": 210, "Y": 180}},
					"checks": []map[string]any{{"id": "yaw", "pass": true, "score": 80, "measured": true}, {"id": "luminance_mean", "pass": i == 2, "score": 40 + 20*i, "reason": "light.too_dark", "measured": true}},
					"pass":   i == 2, "reasons": reasons, "instruction": "Too dark: add light on the face",
				}})
			}
			s, err := b.sessions.SetFace(in.Session, session.Capture{Data: jpg, Format: "jpeg", Width: 320, Height: 240, Score: 77, Device: "camera"})
			if err != nil {
				return nil, err
			}
			return map[string]any{"score": 77, "reasons": []string{}, "summary": s.Summary()}, nil
		},
		"session.finger.capture": func(ctx context.Context, p json.RawMessage) (any, error) {
			in, _ := decode[sref](p)
			b.mu.Lock()
			score := 65 + in.Position
			if q := b.scores[in.Position]; len(q) > 0 {
				score, b.scores[in.Position] = q[0], q[1:]
			}
			b.mu.Unlock()
			img := grayPNG(160, 200, byte(in.Position))
			b.bus.Publish(bus.Message{Type: "capture.finger.waiting", Payload: map[string]any{"session": in.Session, "position": in.Position, "device": "scanner"}})
			b.bus.Publish(bus.Message{Type: "preview.finger", Preview: true, Binary: img, Payload: map[string]any{
				"session": in.Session, "position": in.Position, "format": "png", "width": 160, "height": 200}})
			var reasons []string
			if score < 40 {
				reasons = []string{"press harder", "finger too dry"}
			}
			s, err := b.sessions.AddFingerAttempt(in.Session, in.Position, session.Capture{Data: img, Format: "png", Width: 160, Height: 200, PPI: 500, Score: score, Reasons: reasons, Device: "scanner"})
			if err != nil {
				return nil, err
			}
			f := s.Fingers[in.Position]
			return map[string]any{"session": in.Session, "position": in.Position, "score": score, "reasons": reasons, "accepted": true,
				"kept": f.Best != nil && f.Best.Score == score, "attempts": len(f.Attempts), "threshold": 40, "done": s.FingerDone(in.Position), "summary": s.Summary()}, nil
		},
		"session.finger.except": func(ctx context.Context, p json.RawMessage) (any, error) {
			in, _ := decode[sref](p)
			return summary(b.sessions.Except(in.Session, in.Position, session.ExceptionKind(in.Kind), in.Reason, nil))
		},
		"session.finger.clear": func(ctx context.Context, p json.RawMessage) (any, error) {
			in, _ := decode[sref](p)
			return summary(b.sessions.ClearException(in.Session, in.Position))
		},
		"session.review": func(ctx context.Context, p json.RawMessage) (any, error) {
			in, _ := decode[sref](p)
			return summary(b.sessions.ToReview(in.Session))
		},
		"session.back": func(ctx context.Context, p json.RawMessage) (any, error) {
			in, _ := decode[sref](p)
			return summary(b.sessions.BackToCapture(in.Session))
		},
		"session.finalize": func(ctx context.Context, p json.RawMessage) (any, error) {
			in, _ := decode[sref](p)
			id, err := b.sessions.Finalize(ctx, in.Session)
			if err != nil {
				return nil, err
			}
			b.mu.Lock()
			b.saved = append(b.saved, id)
			b.mu.Unlock()
			b.bus.Publish(bus.Message{Type: "outbox.status", Payload: map[string]any{"depth": 1}})
			return map[string]any{"packet_id": id, "saved": true}, nil
		},
		"session.abandon": func(ctx context.Context, p json.RawMessage) (any, error) {
			in, _ := decode[sref](p)
			return map[string]bool{"abandoned": true}, b.sessions.Abandon(in.Session, in.Reason)
		},
		"outbox.status": func(ctx context.Context, p json.RawMessage) (any, error) {
			return map[string]any{"depth": 0, "last_ack": time.Time{}}, nil
		},
		"device.selftest": func(ctx context.Context, p json.RawMessage) (any, error) {
			in, _ := decode[sref](p)
			b.mu.Lock()
			b.selftest++
			b.mu.Unlock()
			// The shape of station/tech's Report.
			return map[string]any{"device": in.Device, "run": "selftest", "result": "pass", "finished": time.Now(), "checks": []map[string]any{
				{"name": "handshake", "result": "pass", "message": "module answered"},
				{"name": "blank-platen", "result": "pass", "message": "blank platen clean"}}}, nil
		},
	}
}

// TestBrowserOperatorFlow logs in, switches language, sees a device unplug,
// runs a whole enrollment with the keyboard (one finger retried, one
// excepted) and opens the technician console, saving a screenshot of each
// step.
func TestBrowserOperatorFlow(t *testing.T) {
	b := newBackend(t)
	scanner := b.attach("scanner", devices.KindFingerprint)
	b.attach("camera", devices.KindCamera)
	ctx := uitest.Browser(t)
	shots := uitest.NewShots(t)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v\npage: %.3000s", what, err, uitest.Page(ctx))
		}
	}

	// Log in with a wrong token, then the right one.
	run("login page",
		chromedp.Navigate(b.hs.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-token")),
		uitest.TextContains("h1", "Đăng nhập"),
		shots.Take("login"),
		chromedp.SendKeys(chromedp.CSS("#login-token"), "wrong-token-000000"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(".error")),
		uitest.TextContains(".error", "Sai tên người dùng"),
		shots.Take("login-refused"),
		chromedp.SendKeys(chromedp.CSS("#login-token"), token+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#applicant")),
		chromedp.WaitVisible(chromedp.CSS("#status-dev-scanner")),
		uitest.TextContains("#status-dev-scanner", "sẵn sàng"),
		shots.Take("logged-in-vi"),
	)

	// Switch to English with Alt+L, and see the words change.
	run("switch language",
		uitest.Key("l", chromedp.ModifierAlt),
		chromedp.WaitVisible(chromedp.CSS("#mode-enroll")),
		uitest.TextContains("header h1", "Enrollment station"),
		uitest.TextContains("#start", "Start enrollment"),
		uitest.TextContains("#status-dev-scanner", "ready"),
		shots.Take("english"),
	)

	// Unplug the scanner: the status bar says so within a second.
	start := time.Now()
	scanner.SetState(devices.StateAbsent, "USB cable unplugged")
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	err := chromedp.Do(pctx, chromedp.Poll[chromedp.Void](`document.querySelector("#status-dev-scanner")?.dataset.state === "absent"`, chromedp.WithPollingInterval(10*time.Millisecond)))
	cancel()
	if err != nil {
		t.Fatalf("unplug not shown within 1 s: %v", err)
	}
	t.Logf("unplug shown after %v", time.Since(start).Round(time.Millisecond))
	run("unplugged", uitest.TextContains("#status-dev-scanner", "unplugged"), shots.Take("scanner-unplugged"))
	b.attach("scanner", devices.KindFingerprint) // plugged back in
	run("replugged", chromedp.Poll[chromedp.Void](`document.querySelector("#status-dev-scanner")?.dataset.state === "ready"`))

	// A whole enrollment from the keyboard.
	run("applicant",
		chromedp.Focus(chromedp.CSS("#operator")),
		chromedp.SendKeys(chromedp.CSS("#operator"), "officer-7"),
		chromedp.SendKeys(chromedp.CSS("#applicant"), "APP-UI-0001"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#step-face")),
		shots.Take("face-step"),
		uitest.Key("c"),
		chromedp.WaitVisible(chromedp.CSS("#face-done")),
		chromedp.Poll[chromedp.Void](`document.querySelector("#face-img")?.naturalWidth === 320`),
		uitest.TextContains("#face-checks", "Pass: looking straight"),
		uitest.TextContains("#face-checks", "Pass: brightness"),
		shots.Take("face-taken"),
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#step-fingers")),
	)
	order := session.DefaultPolicy().FingerOrder
	for _, pos := range order {
		sel := fmt.Sprintf("#finger-%d.current", pos)
		run(fmt.Sprintf("finger %d current", pos), chromedp.WaitVisible(chromedp.CSS(sel)))
		if pos == session.LeftThumb {
			run("exception",
				uitest.Key("e"),
				chromedp.WaitVisible(chromedp.CSS("#except-dialog[open]")),
				chromedp.SetValue(chromedp.CSS("#except-kind"), "bandaged"),
				chromedp.SendKeys(chromedp.CSS("#except-reason"), "bandaged after an injury"),
				shots.Take("exception-dialog"),
				chromedp.SendKeys(chromedp.CSS("#except-reason"), kb.Enter),
				chromedp.WaitVisible(chromedp.CSS("#finger-6.exc")),
				shots.Take("exception-marked"),
			)
			continue
		}
		run(fmt.Sprintf("finger %d", pos), uitest.Key("c"), chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#finger-result[data-pos='%d']", pos))))
		if pos == session.RightMiddle {
			// First attempt below the threshold: reasons shown, try again.
			run("retry",
				uitest.TextContains("#finger-result", "Press harder"),
				uitest.TextContains("#finger-result", "Finger too dry"),
				chromedp.WaitVisible(chromedp.CSS("#finger-3.low")),
				chromedp.Poll[chromedp.Void](`document.querySelector("#finger-img")?.naturalWidth === 160`),
				shots.Take("finger-low-score"),
				uitest.Key("c"),
				chromedp.WaitVisible(chromedp.CSS("#finger-3.ok")),
			)
		}
	}
	run("all fingers",
		chromedp.WaitVisible(chromedp.CSS("#fingers-done")),
		shots.Take("fingers-done"),
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#card-none")),
		shots.Take("card-step"),
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#finalize:not([disabled])")),
		uitest.TextContains("#review-applicant", "APP-UI-0001"),
		shots.Take("review"),
		chromedp.Focus(chromedp.CSS("#finalize")),
		uitest.Key(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#saved")),
		shots.Take("saved"),
	)
	packet, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#packet-id")))
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	saved := b.saved
	b.mu.Unlock()
	if len(saved) != 1 || saved[0] != packet {
		t.Fatalf("UI shows packet %q, backend saved %v", packet, saved)
	}
	// The saved session has the exception and the retried finger's best.
	run("next person", uitest.Key(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#applicant")), shots.Take("next-person"))

	// Switch back to Vietnamese and check the enrollment flow's words.
	run("vietnamese again", uitest.Key("l", chromedp.ModifierAlt), uitest.TextContains("#start", "Bắt đầu đăng ký"))
}

// TestBrowserTechnicianConsole logs in with the token (technician), runs a
// self-test and finds calibration "not available" (no such command).
func TestBrowserTechnicianConsole(t *testing.T) {
	b := newBackend(t)
	rep := b.attach("scanner", devices.KindFingerprint)
	b.attach("reader", devices.KindCardReader)
	ctx := uitest.Browser(t)
	shots := uitest.NewShots(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(b.hs.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-token")),
		chromedp.SendKeys(chromedp.CSS("#login-token"), token+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#mode-tech")),
		uitest.Key("t", chromedp.ModifierAlt),
		chromedp.WaitVisible(chromedp.CSS("#dev-scanner")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			rep.SetState(devices.StateError, "sensor timeout")
			return nil
		}),
		chromedp.Poll[chromedp.Void](`document.querySelector("#dev-scanner")?.textContent.includes("sensor timeout")`),
		chromedp.Click(chromedp.CSS("#device-selftest-scanner")),
		chromedp.WaitVisible(chromedp.CSS("#dev-scanner .report")),
		uitest.TextContains("#dev-scanner .report", "blank platen clean"),
		uitest.TextContains("#dev-scanner .report", "đạt"),
		uitest.TextContains("#dev-reader", "không hỗ trợ"),
		shots.Take("technician-console"),
	)
	if err != nil {
		t.Fatalf("%v\n%.3000s", err, uitest.Page(ctx))
	}
	if b.selftest != 1 {
		t.Fatalf("self-test ran %d times", b.selftest)
	}
}

// TestBrowserOperatorCannotSeeConsole: an operator account has no
// technician console.
func TestBrowserAccountLogin(t *testing.T) {
	b := newBackend(t)
	ctx := uitest.Browser(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(b.hs.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-user")),
		chromedp.SendKeys(chromedp.CSS("#login-user"), "officer-1"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "mật-khẩu-1"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#applicant")),
	)
	if err != nil {
		t.Fatal(err)
	}
	tech, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#mode-tech, #operator").length`))
	if err != nil {
		t.Fatal(err)
	}
	if tech != 0 {
		t.Fatal("operator sees the technician console or must type an officer ID")
	}
}
