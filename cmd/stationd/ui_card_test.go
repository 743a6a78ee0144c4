package main

// The chip-card step in headless Chromium on the simulated booth: the real
// pcscd with the vpcd reader driver and the simulated card (fwsim card),
// stationd and the serial scanner simulator, each a real process. The
// officer types the card's access number in the form (a wrong one first),
// reads and verifies the applicant's card; on a booth that issues cards,
// fills the holder's details and writes a blank card. pcscd is shared by
// the machine: pcscdtest takes its lock for the test.

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/openenroll/stationd/cmd/internal/simrig"
	"github.com/openenroll/stationd/internal/pcscdtest"
	"github.com/openenroll/stationd/station/ui/uitest"
)

// typeInto replaces an input's text by typing, as the officer would
// (select all, then the new text).
func typeInto(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, a := range []chromedp.Action[chromedp.Void]{
			chromedp.Focus(chromedp.CSS(sel)), uitest.Key("a", chromedp.ModifierCtrl), chromedp.KeyEvent(kb.Delete),
			chromedp.SendKeys(chromedp.CSS(sel), text),
		} {
			if _, err := a(ctx, tg); err != nil {
				return err
			}
		}
		return nil
	})
}

// startCardBooth starts the simulated card (data: a personalized card's
// data set, "" for a blank one), the scanner, with camera the camera (the
// portrait is written to the chip), and stationd with the card step; cfg
// adjusts the configuration.
func startCardBooth(t *testing.T, data string, camera bool, cfg func(*simrig.Config)) *simrig.Rig {
	t.Helper()
	rig, keys := newRig(t)
	ctx := context.Background()
	if _, err := rig.StartCard(ctx, data); err != nil {
		t.Fatal(err)
	}
	if camera {
		root, _ := filepath.Abs(filepath.Join("..", ".."))
		// Nobody, then the applicant sits down and holds still.
		if _, err := rig.StartCamera(ctx, filepath.Join(root, "testdata", "faces", "grace_hopper_512x512.jpg"), "empty 1s\nsit 1s\nhold 120s\n"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rig.StartZFM(ctx, "-no-pace"); err != nil {
		t.Fatal(err)
	}
	c := simrig.Config{Keys: keys, Fingers: []int{2}}
	cfg(&c)
	if _, err := rig.WriteConfig(c); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.StartStationd(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	waitReady(t, rig, "finger-scanner")
	waitReady(t, rig, "card-reader")
	return rig
}

// loginAndFinger logs in, starts an enrollment and captures the right
// index on the serial scanner, leaving the page on the chip-card step.
func loginAndFinger(t *testing.T, ctx context.Context, rig *simrig.Rig, applicant string, face bool, shots *uitest.Shots) {
	t.Helper()
	run := browse(t, ctx, rig)
	zfm := func(cmd string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(context.Context, *chromedp.Target) error { _, err := rig.ZFM(cmd); return err })
	}
	const step = 60 * time.Second
	run("log in and start", step,
		chromedp.Navigate("http://"+rig.StationAddr+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-token")),
		chromedp.SendKeys(chromedp.CSS("#login-token"), rig.Token+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#applicant")),
		chromedp.SendKeys(chromedp.CSS("#operator"), "officer-6"),
		chromedp.SendKeys(chromedp.CSS("#applicant"), applicant+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#step-face")),
	)
	if face {
		run("portrait", 90*time.Second,
			uitest.Key("c"),
			chromedp.WaitVisible(chromedp.CSS("#face-done")),
			shots.Take("face-taken"),
		)
	}
	run("finger", step,
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#finger-2.current")),
		zfm("place synth:33:2"),
		uitest.Key("c"),
		chromedp.WaitVisible(chromedp.CSS("#finger-result[data-pos='2'][data-attempts='1']")),
		zfm("lift"),
		chromedp.WaitVisible(chromedp.CSS("#finger-result[data-lifted='1']")),
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#step-card #card-can")),
	)
}

func TestBrowserCardReadAndVerify(t *testing.T) {
	ctx := uitest.Browser(t) // skips early when there is no Chromium
	binaries(t)
	pcscdtest.ForTest(t) // starts pcscd (or waits for another test's to be free); stops it by pid
	sample, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "card", "sample"))
	rig := startCardBooth(t, sample, false, func(c *simrig.Config) {
		c.Card, c.CSCA = "read", filepath.Join(sample, "csca.crt")
	})
	shots := uitest.NewShots(t)
	loginAndFinger(t, ctx, rig, "APP-CARD-UI-1", false, shots)
	run := browse(t, ctx, rig)
	const step = 60 * time.Second
	run("card step", step,
		shots.Take("card-insert"),
		// A wrong access number: the chip refuses, the officer is told.
		typeInto("#card-can", "999999"),
		chromedp.Focus(chromedp.CSS("#card-read")),
		uitest.Key(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#error")),
		shots.Take("card-wrong-can"),
		typeInto("#card-can", "123456"),
		chromedp.Focus(chromedp.CSS("#card-read")),
		uitest.Key(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#card-result.pass")),
		shots.Take("card-verified"),
	)
	detail, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#step-card")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, "203012345") || !strings.Contains(detail, "passive authentication passed") {
		t.Fatalf("card step after the read: %q", detail)
	}
	// A reading booth offers no card writing: the summary's card_mode.
	writeFields, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(document.querySelector("#card-write") || document.querySelector("#card-surname"))`))
	if err != nil {
		t.Fatal(err)
	}
	if writeFields {
		t.Error("the card step of a read-and-verify booth shows the card-writing form")
	}
	run("review and finalize", step,
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#finalize:not([disabled])")),
		chromedp.WaitVisible(chromedp.CSS("#review-card.pass")),
		shots.Take("review-with-card"),
		chromedp.Focus(chromedp.CSS("#finalize")),
		uitest.Key(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#saved")),
		shots.Take("saved"),
	)
}

func TestBrowserCardPersonalize(t *testing.T) {
	ctx := uitest.Browser(t)
	binaries(t)
	pcscdtest.ForTest(t)
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	sample := filepath.Join(root, "testdata", "card", "sample")
	dsKey := copyKey(t, filepath.Join(sample, "ds.key"))
	rig := startCardBooth(t, "", true, func(c *simrig.Config) { // a blank card
		c.Card, c.Face, c.CSCA = "personalize", true, filepath.Join(sample, "csca.crt")
		c.DSCert, c.DSKey = filepath.Join(sample, "ds.crt"), dsKey
	})
	waitReady(t, rig, "camera")
	shots := uitest.NewShots(t)
	loginAndFinger(t, ctx, rig, "APP-CARD-UI-2", true, shots)
	run := browse(t, ctx, rig)
	run("write the card", 2*time.Minute,
		chromedp.WaitVisible(chromedp.CSS("#card-write")),
		typeInto("#card-can", "654321"),
		typeInto("#card-document", "C03005988"),
		typeInto("#card-birth", "950212"),
		typeInto("#card-expiry", "350212"),
		typeInto("#card-surname", "Tran"),
		typeInto("#card-given", "Van An"),
		typeInto("#card-sex", "M"),
		typeInto("#card-optional", "001095012345"),
		shots.Take("card-personalize-form"),
		chromedp.Focus(chromedp.CSS("#card-write")),
		uitest.Key(kb.Enter),
		// Writing takes seconds: the progress is shown meanwhile (unless it
		// was over before the page was looked at).
		chromedp.Poll[chromedp.Void](`!!(document.querySelector("#busy") || document.querySelector("#card-result"))`, chromedp.WithPollingTimeout(0)),
		shots.Take("card-personalizing"),
		chromedp.WaitVisible(chromedp.CSS("#card-result.pass")),
		shots.Take("card-written"),
	)
	detail, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#step-card")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, "C03005988 written, locked and read back") {
		t.Fatalf("card step after writing: %q", detail)
	}
	run("review and finalize", time.Minute,
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#finalize:not([disabled])")),
		chromedp.Poll[chromedp.Void](`document.querySelector("#review-portrait")?.naturalWidth > 0`, chromedp.WithPollingTimeout(0)),
		shots.Take("review-with-card"),
		chromedp.Focus(chromedp.CSS("#finalize")),
		uitest.Key(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#saved")),
		shots.Take("saved"),
	)
}
