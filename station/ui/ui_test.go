package ui

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/openenroll/stationd/capture/face"
	"github.com/openenroll/stationd/capture/finger"
)

func loadDict(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := fs.ReadFile(Files(), "i18n.json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]map[string]string
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("i18n.json: %v", err)
	}
	return d
}

// Every key the page asks for exists in both languages, and the
// Vietnamese is really Vietnamese (written with its diacritics).
func TestTranslationsComplete(t *testing.T) {
	d := loadDict(t)
	en, vi := d["en"], d["vi"]
	for k := range en {
		if _, ok := vi[k]; !ok {
			t.Errorf("vi lacks %q", k)
		}
	}
	for k := range vi {
		if _, ok := en[k]; !ok {
			t.Errorf("en lacks %q", k)
		}
	}
	js, _ := fs.ReadFile(Files(), "app.js")
	for _, m := range regexp.MustCompile(`\bt\("([a-z_]+\.[a-z_.]+)"`).FindAllStringSubmatch(string(js), -1) {
		if _, ok := en[m[1]]; !ok {
			t.Errorf("app.js uses %q, missing from i18n.json", m[1])
		}
	}
	diacritics := regexp.MustCompile(`[ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ]`)
	plain := 0
	for k, v := range vi {
		if strings.HasPrefix(k, "reason.") || strings.HasPrefix(k, "finger.") {
			if !diacritics.MatchString(strings.ToLower(v)) {
				plain++
				t.Logf("vi %s = %q has no diacritics", k, v)
			}
		}
	}
	if plain > 0 {
		t.Errorf("%d Vietnamese reasons or finger names without diacritics", plain)
	}
	for k, v := range en {
		if vi[k] == v && !strings.HasPrefix(k, "lang.") && len(v) > 12 {
			t.Errorf("%q is not translated: %q", k, v)
		}
	}
}

// The reasons capture/finger gives are all translated.
func TestFingerReasonsTranslated(t *testing.T) {
	d := loadDict(t)
	for _, r := range []finger.Reason{finger.NotAFingerprint, finger.PressHarder, finger.TooDry, finger.TooWet,
		finger.MoveToCentre, finger.RollLess, finger.CleanPlaten} {
		for _, lang := range []string{"en", "vi"} {
			if _, ok := d[lang]["reason."+string(r)]; !ok {
				t.Errorf("%s: no translation for finger reason %q", lang, r)
			}
		}
	}
}

// The face reason codes capture/face gives are all translated.
func TestFaceReasonsTranslated(t *testing.T) {
	d := loadDict(t)
	for _, code := range face.ReasonCodes() {
		for _, lang := range []string{"en", "vi"} {
			if _, ok := d[lang]["reason."+code]; !ok {
				t.Errorf("%s: no translation for face reason %q", lang, code)
			}
		}
	}
	for _, id := range face.ComponentIDs {
		for _, lang := range []string{"en", "vi"} {
			if _, ok := d[lang]["check."+id]; !ok {
				t.Errorf("%s: no translation for face check %q", lang, id)
			}
		}
	}
}

func TestHandler(t *testing.T) {
	hs := httptest.NewServer(Handler())
	defer hs.Close()
	for _, p := range []string{"/", "/app.js", "/style.css", "/i18n.json"} {
		resp, err := http.Get(hs.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
	}
	if resp, _ := http.Get(hs.URL + "/nope.js"); resp.StatusCode != 404 {
		t.Errorf("missing file: %d", resp.StatusCode)
	}
}
