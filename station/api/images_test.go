package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const (
	imgSession = "0123456789abcdef0123456789abcdef"
	imgFile    = "finger02-0123456789abcdef.png"
)

// imageServer serves one stored image of one session and records every
// name the store is asked for.
func imageServer(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	auth, err := NewAuth(AuthOptions{Token: testToken, Accounts: []Account{
		{Name: "officer", Role: RoleOperator, PasswordHash: testHash(t, "pw-officer")}}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var asked []string
	srv := New(Options{Auth: auth, NoUI: true, Images: func(ctx context.Context, sid, file string) ([]byte, string, error) {
		mu.Lock()
		asked = append(asked, sid+"/"+file)
		mu.Unlock()
		if sid == imgSession && file == imgFile {
			return []byte("\x89PNG fake"), "image/png", nil
		}
		return nil, "", errors.New("not an image of that session")
	}})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return hs, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), asked...) }
}

func getImage(t *testing.T, hs *httptest.Server, path, bearer string, cookies ...*http.Cookie) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", hs.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	// No redirects: a cleaned path answers 301, which must not be followed
	// into something served.
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestSessionImageNeedsLogin(t *testing.T) {
	hs, asked := imageServer(t)
	path := "/api/sessions/" + imgSession + "/images/" + imgFile
	if code, _, _ := getImage(t, hs, path, ""); code != http.StatusUnauthorized {
		t.Fatalf("without login: %d, want 401", code)
	}
	if code, _, _ := getImage(t, hs, path, "wrong-token-0123456789"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	if n := len(asked()); n != 0 {
		t.Fatalf("the store was asked %d times before a login", n)
	}
	code, h, body := getImage(t, hs, path, testToken)
	if code != http.StatusOK || body != "\x89PNG fake" || h.Get("Content-Type") != "image/png" {
		t.Fatalf("with the token: %d %q %q", code, h.Get("Content-Type"), body)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("biometric image cacheable: %v", h)
	}
	// The browser's way: the session cookie of a login.
	resp, err := http.Post(hs.URL+"/api/login", "application/json", strings.NewReader(`{"user":"officer","password":"pw-officer"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, _, _ := getImage(t, hs, path, "", resp.Cookies()...); code != http.StatusOK {
		t.Fatalf("with the login cookie: %d", code)
	}
}

func TestSessionImageNotFoundAndTraversal(t *testing.T) {
	hs, asked := imageServer(t)
	for _, path := range []string{
		"/api/sessions/" + imgSession + "/images/finger03-0123456789abcdef.png", // not the session's
		"/api/sessions/ffffffffffffffffffffffffffffffff/images/" + imgFile,      // another session
		"/api/sessions/" + imgSession + "/images/session.json",
		"/api/sessions/" + imgSession + "/images/packet.bin",
		"/api/sessions/" + imgSession + "/images/..%2Fsession.json",
		"/api/sessions/" + imgSession + "/images/..%2F..%2F..%2Fetc%2Fpasswd",
		"/api/sessions/" + imgSession + "/images/%2e%2e",
		"/api/sessions/..%2F" + imgSession + "/images/" + imgFile,
		"/api/sessions/" + imgSession + "/images/finger02-0123456789abcdef.png%00.txt",
		"/api/sessions/" + imgSession + "/images/FINGER02-0123456789ABCDEF.PNG",
		"/api/sessions/" + imgSession + "/images/",
	} {
		code, _, body := getImage(t, hs, path, testToken)
		if code != http.StatusNotFound {
			t.Errorf("%s: %d %q, want 404", path, code, body)
		}
		if strings.Contains(body, "PNG") {
			t.Errorf("%s served an image", path)
		}
	}
	// Paths with dot segments are cleaned by the router: a redirect, never
	// the image store.
	for _, path := range []string{
		"/api/sessions/" + imgSession + "/images/../../../etc/passwd",
		"/api/sessions/" + imgSession + "/../" + imgSession + "/images/" + imgFile,
	} {
		code, _, body := getImage(t, hs, path, testToken)
		if code == http.StatusOK {
			t.Errorf("%s: served %q", path, body)
		}
	}
	// Only well-formed names ever reach the store.
	for _, a := range asked() {
		file := a[strings.IndexByte(a, '/')+1:]
		if !imageNamePattern.MatchString(file) {
			t.Errorf("the store was asked for %q", a)
		}
	}
}

// Any path under the image route: never a panic, never an image but the
// one the store has, and the store is only ever asked for well-formed
// names.
func FuzzSessionImagePath(f *testing.F) {
	for _, s := range []string{imgSession + "/images/" + imgFile, imgSession + "/images/..%2Fsession.json",
		"../images/x", imgSession + "/images/%2e%2e%2f%2e%2e", "x/images/y.png", imgSession + "/images/face-0123456789abcdef.jpeg"} {
		f.Add(s)
	}
	auth, err := NewAuth(AuthOptions{Token: testToken})
	if err != nil {
		f.Fatal(err)
	}
	srv := New(Options{Auth: auth, NoUI: true, Images: func(ctx context.Context, sid, file string) ([]byte, string, error) {
		if !sessionIDPattern.MatchString(sid) || !imageNamePattern.MatchString(file) {
			panic("store asked for " + sid + "/" + file)
		}
		if sid == imgSession && file == imgFile {
			return []byte("img"), "image/png", nil
		}
		return nil, "", errors.New("no")
	}})
	defer srv.Close()
	f.Fuzz(func(t *testing.T, rest string) {
		req, err := http.NewRequest("GET", "http://127.0.0.1/api/sessions/"+rest, nil)
		if err != nil {
			return // not a URL a client could send
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)
		if w.Code == http.StatusOK && w.Body.String() != "img" {
			t.Fatalf("%q served %q", rest, w.Body.String())
		}
	})
}

// BenchmarkSessionImageServe: one stored finger image (a 60 KiB PNG, the
// size of a 500 ppi flat print) through the image route, login checked.
func BenchmarkSessionImageServe(b *testing.B) {
	auth, err := NewAuth(AuthOptions{Token: testToken})
	if err != nil {
		b.Fatal(err)
	}
	img := make([]byte, 60<<10)
	srv := New(Options{Auth: auth, NoUI: true, Images: func(ctx context.Context, sid, file string) ([]byte, string, error) {
		return img, "image/png", nil
	}})
	defer srv.Close()
	req := httptest.NewRequest("GET", "/api/sessions/"+imgSession+"/images/"+imgFile, nil)
	req.Host = "127.0.0.1"
	req.Header.Set("Authorization", "Bearer "+testToken)
	b.SetBytes(int64(len(img)))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
