package main

// The operator UI in headless Chromium against the real booth: stationd,
// the simulated serial scanner and the reference central, each its own
// process (see sim_test.go). The officer's whole enrollment is typed on the
// keyboard, through to "saved" and the upload to central.

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/openenroll/stationd/cmd/internal/simrig"
	"github.com/openenroll/stationd/station/session"
	"github.com/openenroll/stationd/station/ui/uitest"
)

func TestBrowserEnrollmentOnSimulatedDevices(t *testing.T) {
	ctx := uitest.Browser(t) // skips early when there is no Chromium
	rig := startBooth(t)
	waitReady(t, rig, "finger-scanner")
	waitReady(t, rig, "camera")
	shots := uitest.NewShots(t)
	run := func(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v\npage: %.4000s\n(logs in %s)", what, err, uitest.Page(ctx), rig.Dir)
		}
	}
	zfm := func(cmd string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(context.Context, *chromedp.Target) error {
			_, err := rig.ZFM(cmd)
			return err
		})
	}
	const step = 60 * time.Second

	run("log in", step,
		chromedp.Navigate("http://"+rig.StationAddr+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-token")),
		chromedp.SendKeys(chromedp.CSS("#login-token"), rig.Token+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#applicant")),
		chromedp.Poll[chromedp.Void](`document.querySelector("#status-dev-finger-scanner")?.dataset.state === "ready"`),
		shots.Take("logged-in"),
		chromedp.SendKeys(chromedp.CSS("#operator"), "officer-9"),
		chromedp.SendKeys(chromedp.CSS("#applicant"), "APP-BROWSER-1"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#step-face")),
		// Auto-capture: live frames with the face box and the checks, until
		// the person has held still with every check passing.
		uitest.Key("c"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#face-img")?.naturalWidth > 0 && !document.querySelector("#face-box").hidden`, chromedp.WithPollingTimeout(0)),
		shots.Take("face-live"),
		chromedp.WaitVisible(chromedp.CSS("#face-done")),
		chromedp.Poll[chromedp.Void](`document.querySelector("#portrait-img")?.naturalWidth > 0`, chromedp.WithPollingTimeout(0)),
		shots.Take("face-taken"),
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#step-fingers")),
	)
	const identity = 21
	for _, pos := range session.DefaultPolicy().FingerOrder {
		run(fmt.Sprintf("finger %d selected", pos), step, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#finger-%d.current", pos))))
		if pos == session.LeftThumb {
			run("exception", step,
				uitest.Key("e"),
				chromedp.WaitVisible(chromedp.CSS("#except-dialog[open]")),
				chromedp.SetValue(chromedp.CSS("#except-kind"), "amputated"),
				chromedp.SendKeys(chromedp.CSS("#except-reason"), "lost in an accident"+kb.Enter),
				chromedp.WaitVisible(chromedp.CSS("#finger-6.exc")),
			)
			continue
		}
		for attempt := 1; ; attempt++ {
			run(fmt.Sprintf("finger %d attempt %d", pos, attempt), step,
				zfm(fmt.Sprintf("place synth:%d:%d", identity, pos)),
				uitest.Key("c"),
				chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#finger-result[data-pos='%d'][data-attempts='%d']", pos, attempt))),
				zfm("lift"),
				// The station must see the glass clear before the next
				// finger goes on, as an applicant's hand takes a moment.
				chromedp.WaitVisible(chromedp.CSS("#finger-result[data-lifted='1']")),
			)
			done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector("#finger-%d").classList.contains("ok")`, pos)))
			if err != nil {
				t.Fatal(err)
			}
			if done {
				break
			}
			if attempt == 1 {
				run("low score", step, shots.Take(fmt.Sprintf("finger-%d-low", pos)))
			}
			if attempt >= session.DefaultPolicy().MaxAttempts {
				t.Fatalf("finger %d not done after %d attempts", pos, attempt)
			}
		}
		if pos == session.RightIndex {
			run("first finger", step, shots.Take("first-finger"))
		}
	}
	run("finish", step,
		chromedp.WaitVisible(chromedp.CSS("#fingers-done")),
		shots.Take("fingers-done"),
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#card-none")),
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#finalize:not([disabled])")),
		uitest.TextContains("#review-applicant", "APP-BROWSER-1"),
		shots.Take("review"),
		chromedp.Focus(chromedp.CSS("#finalize")),
		uitest.Key(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#saved")),
		shots.Take("saved"),
	)
	packet, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#packet-id")))
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(packet) {
		t.Fatalf("packet id %q %v", packet, err)
	}
	// The uplink delivers it: the status bar shows the sync.
	run("uplink", 90*time.Second,
		chromedp.Poll[chromedp.Void](`!/never|chưa bao giờ/.test(document.querySelector("#status-sync").textContent)`, chromedp.WithPollingTimeout(0)),
		shots.Take("uploaded"),
	)
	// The technician console: a self-test of the scanner, its report shown.
	run("technician console", step,
		uitest.Key("t", chromedp.ModifierAlt),
		chromedp.WaitVisible(chromedp.CSS("#dev-finger-scanner")),
		chromedp.Click(chromedp.CSS("#device-selftest-finger-scanner")),
		chromedp.WaitVisible(chromedp.CSS("#dev-finger-scanner .report")),
		shots.Take("technician-selftest"),
		uitest.Key("t", chromedp.ModifierAlt),
		chromedp.WaitVisible(chromedp.CSS("#saved")),
	)
	// The scanner's cable is pulled: the status bar says so.
	start := time.Now()
	run("unplug", 20*time.Second,
		zfm("hangup"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#status-dev-finger-scanner")?.dataset.state === "absent"`, chromedp.WithPollingTimeout(0)),
		shots.Take("scanner-unplugged"),
	)
	t.Logf("unplug shown %v after the hangup", time.Since(start).Round(time.Millisecond))
	run("replug", 20*time.Second,
		zfm("return"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#status-dev-finger-scanner")?.dataset.state === "ready"`, chromedp.WithPollingTimeout(0)),
		uitest.Key(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#applicant")),
		shots.Take("next-person"),
	)
}

// startBooth starts central, the simulated camera and scanner, and
// stationd with a portrait step and uploads.
func startBooth(t *testing.T) *simrig.Rig {
	t.Helper()
	rig, keys := newRig(t)
	ctx := context.Background()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	if _, err := rig.StartCentral(ctx, keys); err != nil {
		t.Fatal(err)
	}
	// Nobody, then the applicant sits down and holds still.
	if _, err := rig.StartCamera(ctx, filepath.Join(root, "testdata", "faces", "grace_hopper_512x512.jpg"), "empty 1s\nsit 1s\nhold 60s\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.StartZFM(ctx, "-no-pace"); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.WriteConfig(simrig.Config{Keys: keys, Uplink: true, Face: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.StartStationd(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return rig
}
