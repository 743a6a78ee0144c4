// Package uitest helps tests drive the operator UI in headless Chromium
// with chromedp: it starts the browser (skipping the test when none is
// installed), saves screenshots of each step, and has small actions for
// keys and text checks. Only tests import it.
package uitest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Browser starts headless Chromium for a test, with a fresh profile, and
// returns its chromedp context; the browser is stopped when the test ends.
// It skips the test in -short mode or when no Chromium is installed ($CHROMIUM
// names one elsewhere).
func Browser(t testing.TB) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: starts Chromium")
	}
	path := os.Getenv("CHROMIUM")
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if path != "" {
			break
		}
		if _, err := os.Stat(p); err == nil {
			path = p
		}
	}
	if path == "" {
		if p, err := exec.LookPath("chromium"); err == nil {
			path = p
		}
	}
	if path == "" {
		t.Skip("no Chromium installed (set CHROMIUM to its path)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	// No timeout on the first call: it would stop the browser (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium %s: %v", path, err)
	}
	return ctx
}

// Shots saves a screenshot of each step for people to review: in
// $UI_SCREENSHOTS/<test name> when that is set, else in the test's
// temporary directory.
type Shots struct {
	t   testing.TB
	dir string
	n   int
}

// NewShots prepares the screenshot directory.
func NewShots(t testing.TB) *Shots {
	dir := os.Getenv("UI_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else {
		dir = filepath.Join(dir, t.Name())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Shots{t: t, dir: dir}
}

// Take returns an action that saves the viewport as NN-name.png.
func (s *Shots) Take(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.CaptureScreenshot()(ctx, tg)
		if err != nil {
			return err
		}
		s.n++
		p := filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.n, name))
		s.t.Logf("screenshot %s", p)
		return os.WriteFile(p, buf, 0o644)
	})
}

// Key presses keys on the page, with modifiers.
func Key(k string, mods ...chromedp.Modifier) chromedp.Action[chromedp.Void] {
	var opts []chromedp.KeyOption
	for _, m := range mods {
		opts = append(opts, chromedp.KeyModifiers(m))
	}
	return chromedp.KeyEvent(k, opts...)
}

// TextContains checks that the element sel (CSS) shows want.
func TextContains(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		got, err := chromedp.Text(chromedp.CSS(sel))(ctx, tg)
		if err != nil {
			return fmt.Errorf("%s: %w", sel, err)
		}
		if !strings.Contains(got, want) {
			return fmt.Errorf("%s says %q, want %q", sel, got, want)
		}
		return nil
	})
}

// Page returns the page's HTML, for a failing test's message.
func Page(ctx context.Context) string {
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	if err != nil {
		return "(page unavailable: " + err.Error() + ")"
	}
	return html
}
