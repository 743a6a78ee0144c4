package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzLogin posts arbitrary bodies to /api/login: never a panic, never a
// login without the right secret, and only the documented statuses.
func FuzzLogin(f *testing.F) {
	f.Add([]byte(`{"token":"` + testToken + `"}`))
	f.Add([]byte(`{"user":"officer","password":"pw-officer"}`))
	f.Add([]byte(`{"user":"officer","password":"x","token":"y"}`))
	f.Add([]byte(`{"user":1}`))
	f.Add([]byte(`{"token":"` + strings.Repeat("a", 5000) + `"}`))
	f.Add([]byte(`{"extra":true}`))
	f.Add([]byte(``))
	hash, _ := hashWith("pw-officer", 10_000)
	auth, err := NewAuth(AuthOptions{Token: testToken, Accounts: []Account{{Name: "officer", Role: RoleOperator, PasswordHash: hash}}})
	if err != nil {
		f.Fatal(err)
	}
	srv := New(Options{Auth: auth, NoUI: true})
	defer srv.Close()
	f.Fuzz(func(t *testing.T, body []byte) {
		auth.mu.Lock()
		auth.failures = map[string][]time.Time{} // no lockout across inputs
		auth.mu.Unlock()
		r := httptest.NewRequest("POST", "/api/login", bytes.NewReader(body))
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
			if !bytes.Contains(body, []byte(testToken)) && !bytes.Contains(body, []byte("pw-officer")) {
				t.Fatalf("logged in without a secret: %q", body)
			}
		case http.StatusBadRequest, http.StatusUnauthorized:
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}

// FuzzParseHash: password_hash comes from a config file.
func FuzzParseHash(f *testing.F) {
	f.Add("pbkdf2-sha256$10000$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("pbkdf2-sha256$600000$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			return
		}
		if h.iter < 10_000 || h.iter > 10_000_000 || len(h.salt) < 8 || len(h.key) < 16 {
			t.Fatalf("accepted weak hash %q", s)
		}
	})
}
