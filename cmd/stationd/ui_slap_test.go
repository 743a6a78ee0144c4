package main

// The slap step in headless Chromium on the simulated booth: stationd, the
// simulated HID slap scanner (fwsim hid) and serial scanner, each a real
// process. The officer takes the ten fingers as slaps (4-4-2) with the
// keyboard, sees the wrong hand refused, retakes a slap, reviews the kept
// images, reloads the page on the review step and sees them again, and the
// technician console shows the slap scanner's counters, kept by stationd
// across a reload.

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/openenroll/stationd/cmd/internal/simrig"
	"github.com/openenroll/stationd/station/ui/uitest"
)

// browse returns a function that runs chromedp actions as one named step,
// failing the test with the page and the rig's log directory.
func browse(t *testing.T, ctx context.Context, rig *simrig.Rig) func(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	return func(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v\npage: %.4000s\n(logs in %s)", what, err, uitest.Page(ctx), rig.Dir)
		}
	}
}

// evalInt evaluates a JavaScript expression giving a number.
func evalInt(t *testing.T, ctx context.Context, js string) int {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(`+js+`)`))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s = %q: %v", js, s, err)
	}
	return n
}

// allReviewImages is true once every finger's kept image on the review
// step is loaded from stationd's image route (not a preview of this page).
const allReviewImages = `[...document.querySelectorAll("#step-review img[id^=review-img-]")]
	.filter((i) => i.complete && i.naturalWidth > 0 && new URL(i.src).pathname.startsWith("/api/sessions/")).length`

// reviewSlaps is "13:4,14:4,15:2" once the review step shows the three
// whole slaps stationd keeps, loaded, with the number of finger boxes on
// each.
const reviewSlaps = `[...document.querySelectorAll("#review-slaps figure")]
	.filter((f) => f.querySelector("img").complete && f.querySelector("img").naturalWidth > 0)
	.map((f) => f.id.replace("review-slap-", "") + ":" + f.querySelectorAll(".slap-box").length).join(",")`

func TestBrowserSlapsReviewReloadAndCounters(t *testing.T) {
	ctx := uitest.Browser(t) // skips early when there is no Chromium
	rig, keys := newRig(t)
	hid, err := rig.StartHID(context.Background(), "-identity", "51", "-rotation", "10")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rig.WriteConfig(simrig.Config{Keys: keys}); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.StartStationd(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	waitReady(t, rig, "slap-scanner")
	shots := uitest.NewShots(t)
	run := browse(t, ctx, rig)
	hidCmd := func(cmd string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(context.Context, *chromedp.Target) error { return hid.Send(cmd) })
	}
	const step = 60 * time.Second

	run("log in and start", step,
		chromedp.Navigate("http://"+rig.StationAddr+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-token")),
		chromedp.SendKeys(chromedp.CSS("#login-token"), rig.Token+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#applicant")),
		chromedp.SendKeys(chromedp.CSS("#operator"), "officer-5"),
		chromedp.SendKeys(chromedp.CSS("#applicant"), "APP-SLAP-1"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#step-face")),
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#step-fingers")),
		// The booth has a slap scanner: slaps are offered, and chosen.
		chromedp.WaitVisible(chromedp.CSS(`#mode-slap[aria-pressed="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#slap-current[data-slap="right"]`)),
		shots.Take("slap-choose"),
		// M: finger by finger instead, and back.
		uitest.Key("m"),
		chromedp.WaitVisible(chromedp.CSS(`#mode-flat[aria-pressed="true"]`)),
		chromedp.WaitVisible(chromedp.CSS("#finger-capture")),
		uitest.Key("m"),
		chromedp.WaitVisible(chromedp.CSS(`#mode-slap[aria-pressed="true"]`)),
	)
	// The left hand on the glass for the right slap: refused, nothing recorded.
	run("wrong hand", step,
		hidCmd("wronghand on"),
		uitest.Key("c"),
		chromedp.WaitVisible(chromedp.CSS(`#slap-result[data-n="1"][data-wrong="1"][data-recorded="0"] #slap-wrong-hand`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#slap-img")?.naturalWidth > 0`, chromedp.WithPollingTimeout(0)),
		shots.Take("slap-wrong-hand"),
		hidCmd("wronghand off"),
	)
	if n := evalInt(t, ctx, `document.querySelectorAll("#finger-2.ok, #finger-2.low").length`); n != 0 {
		t.Fatal("the wrong hand was recorded as the right index")
	}
	// The right slap: the image with a box on each of the four fingers,
	// each finger's score, then a retake with R.
	run("right slap", step,
		uitest.Key("r"),
		chromedp.WaitVisible(chromedp.CSS(`#slap-result[data-n="2"][data-slap="right"][data-recorded="1"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#slap-img")?.naturalWidth > 0`, chromedp.WithPollingTimeout(0)),
		shots.Take("slap-right"),
		// The same in English.
		uitest.Key("l", chromedp.ModifierAlt),
		uitest.TextContains("#slap-result", "Right four fingers"),
		uitest.TextContains("#slap-fingers", "right index"),
		shots.Take("slap-right-en"),
		uitest.Key("l", chromedp.ModifierAlt),
		uitest.TextContains("#slap-result", "Bốn ngón tay phải"),
	)
	if n := evalInt(t, ctx, `document.querySelectorAll("#slap-preview .box").length`); n != 4 {
		t.Fatalf("%d boxes on the right slap, want 4", n)
	}
	if n := evalInt(t, ctx, `document.querySelectorAll("#slap-fingers li[data-pos]").length`); n != 4 {
		t.Fatalf("%d finger results on the right slap, want 4", n)
	}
	slaps := 2
	run("retake", step,
		uitest.Key("r"),
		chromedp.WaitVisible(chromedp.CSS(`#slap-result[data-n="3"][data-slap="right"]`)),
		shots.Take("slap-right-retake"),
	)
	slaps++
	// The remaining slaps, with C: each takes the next slap still needed
	// (a finger below its score is taken again, up to the attempts allowed).
	taken := map[string]bool{}
	for !done(t, ctx) {
		if slaps > 12 {
			t.Fatalf("fingers not done after %d slaps:\n%.3000s", slaps, uitest.Page(ctx))
		}
		cur, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#slap-current").dataset.slap`))
		if err != nil {
			t.Fatal(err)
		}
		slaps++
		run(fmt.Sprintf("slap %d (%s)", slaps, cur), step,
			uitest.Key("c"),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#slap-result[data-n="%d"][data-slap="%s"]`, slaps, cur))),
			chromedp.Poll[chromedp.Void](`document.querySelector("#slap-img")?.naturalWidth > 0`, chromedp.WithPollingTimeout(0)),
		)
		if !taken[cur] {
			taken[cur] = true
			run("shot", step, shots.Take("slap-"+cur))
		}
	}
	if !taken["left"] || !taken["thumbs"] {
		t.Fatalf("slaps taken: %v", taken)
	}
	run("review", step,
		shots.Take("slaps-done"),
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#card-none")),
		uitest.Key("n"),
		chromedp.WaitVisible(chromedp.CSS("#finalize:not([disabled])")),
		chromedp.Poll[chromedp.Void](allReviewImages+` === 10`, chromedp.WithPollingTimeout(0)),
		chromedp.Poll[chromedp.Void](reviewSlaps+` === "13:4,14:4,15:2"`, chromedp.WithPollingTimeout(0)),
		shots.Take("review"),
		chromedp.ScrollIntoView(chromedp.CSS("#review-slaps")),
		shots.Take("review-slaps"),
	)
	scores, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#step-review td.score")].map((e) => e.textContent).join(",")`))
	if err != nil {
		t.Fatal(err)
	}
	// A reload on review: the enrollment, its scores and every image again.
	run("reload on review", step,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#step-review")),
		uitest.TextContains("#review-applicant", "APP-SLAP-1"),
		chromedp.Poll[chromedp.Void](allReviewImages+` === 10`, chromedp.WithPollingTimeout(0)),
		chromedp.Poll[chromedp.Void](reviewSlaps+` === "13:4,14:4,15:2"`, chromedp.WithPollingTimeout(0)),
		shots.Take("review-after-reload"),
	)
	again, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#step-review td.score")].map((e) => e.textContent).join(",")`))
	if err != nil || again != scores {
		t.Fatalf("scores after the reload %q, before %q (%v)", again, scores, err)
	}

	// The technician console: the slap scanner's counters, kept by stationd.
	counters := func(what string) (attempts, captures int) {
		t.Helper()
		run(what, step,
			uitest.Key("t", chromedp.ModifierAlt),
			chromedp.WaitVisible(chromedp.CSS("#counters-slap-scanner")),
			chromedp.Poll[chromedp.Void](`+document.querySelector("#counters-slap-scanner").dataset.attempts > 0`, chromedp.WithPollingTimeout(0)),
		)
		return evalInt(t, ctx, `document.querySelector("#counters-slap-scanner").dataset.attempts`),
			evalInt(t, ctx, `document.querySelector("#counters-slap-scanner").dataset.captures`)
	}
	a1, c1 := counters("technician console")
	run("counters shot", step, shots.Take("technician-counters"))
	errs := evalInt(t, ctx, `document.querySelector("#counters-slap-scanner").dataset.errors`)
	if a1 != slaps || c1 != slaps || errs != 0 {
		t.Fatalf("slap scanner counters: %d attempts, %d captures, %d errors; the test took %d slaps", a1, c1, errs, slaps)
	}
	run("reload the console", step, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#step-review")))
	a2, c2 := counters("technician console after a reload")
	if a2 != a1 || c2 != c1 {
		t.Fatalf("counters after a reload: %d/%d, before %d/%d", a2, c2, a1, c1)
	}
	// The scanner's cable pulled: an error, with its time, in the console.
	run("unplug the slap scanner", 30*time.Second,
		hidCmd("unplug slap"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#status-dev-slap-scanner")?.dataset.state === "absent"`, chromedp.WithPollingTimeout(0)),
		hidCmd("plug slap"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#status-dev-slap-scanner")?.dataset.state === "ready"`, chromedp.WithPollingTimeout(0)),
		// The loss is the scanner's error, in words and with its time (the
		// last one may be the reason it could not be opened meanwhile).
		chromedp.Poll[chromedp.Void](`+document.querySelector("#counters-slap-scanner").dataset.errors >= 1 &&
			/disconnected|absent/.test(document.querySelector("#lasterr-slap-scanner").textContent) &&
			!isNaN(Date.parse(document.querySelector("#lasterr-slap-scanner").dataset.time))`, chromedp.WithPollingTimeout(0)),
		shots.Take("technician-counters-unplugged"),
	)
	run("finalize", step,
		uitest.Key("t", chromedp.ModifierAlt),
		chromedp.WaitVisible(chromedp.CSS("#finalize:not([disabled])")),
		chromedp.Focus(chromedp.CSS("#finalize")),
		uitest.Key(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#saved")),
		shots.Take("saved"),
	)
}

// done tells whether the fingers step says all fingers are done.
func done(t *testing.T, ctx context.Context) bool {
	t.Helper()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector("#fingers-done")`))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}
