package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testHash is a cheap hash for tests (the minimum iterations accepted).
func testHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := hashWith(pw, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPasswordHash(t *testing.T) {
	h := testHash(t, "đúng mật khẩu")
	if !CheckPassword(h, "đúng mật khẩu") || CheckPassword(h, "sai") || CheckPassword("garbage", "") {
		t.Fatal("password check")
	}
	h2 := testHash(t, "đúng mật khẩu")
	if h == h2 {
		t.Fatal("same salt twice")
	}
	for _, bad := range []string{"", "pbkdf2-sha256$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "md5$10000$x$y", "pbkdf2-sha256$10000$!!$AAAAAAAAAAAAAAAAAAAAAA"} {
		if _, err := NewAuth(AuthOptions{Accounts: []Account{{Name: "a", Role: RoleOperator, PasswordHash: bad}}}); err == nil {
			t.Errorf("hash %q accepted", bad)
		}
	}
	if _, err := NewAuth(AuthOptions{DisableToken: true}); err == nil {
		t.Error("no way to log in accepted")
	}
	if _, err := NewAuth(AuthOptions{Token: "short"}); err == nil {
		t.Error("short token accepted")
	}
	a, err := NewAuth(AuthOptions{})
	if err != nil || len(a.Token()) < 16 {
		t.Fatalf("generated token %q %v", a.Token(), err)
	}
}

const testToken = "test-token-0123456789"

// secureServer is a server with a token, two accounts and a strict rate
// limit, and one slow-ish command.
func secureServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	auth, err := NewAuth(AuthOptions{Token: testToken, Accounts: []Account{
		{Name: "officer", Role: RoleOperator, PasswordHash: testHash(t, "pw-officer")},
		{Name: "tech", Role: RoleTechnician, PasswordHash: testHash(t, "pw-tech")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Auth: auth, RateLimit: RateLimit{PerSecond: 1, Burst: 5, Disconnect: 50}, Commands: map[string]CommandFunc{
		"whoami.cmd": func(ctx context.Context, p json.RawMessage) (any, error) {
			u, _ := UserFrom(ctx)
			return u, nil
		},
		"device.selftest": func(ctx context.Context, p json.RawMessage) (any, error) { return map[string]bool{"ok": true}, nil },
	}})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return srv, hs
}

func wsURL(hs *httptest.Server) string { return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws" }

func dialWith(t *testing.T, hs *httptest.Server, h http.Header) (*websocket.Conn, int) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(wsURL(hs), h)
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { ws.Close() })
	return ws, http.StatusSwitchingProtocols
}

func readEnv(t *testing.T, ws *websocket.Conn) Envelope {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var e Envelope
	if err := ws.ReadJSON(&e); err != nil {
		t.Fatal(err)
	}
	return e
}

func postLogin(t *testing.T, hs *httptest.Server, body string) (*http.Client, *http.Response) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Post(hs.URL+"/api/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c, resp
}

func TestWebsocketRefusals(t *testing.T) {
	_, hs := secureServer(t)
	bearer := http.Header{"Authorization": {"Bearer " + testToken}}

	// A client that behaves, connected before and after each refusal: the
	// daemon keeps serving it.
	good, code := dialWith(t, hs, bearer)
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("good client: %d", code)
	}
	if e := readEnv(t, good); e.Type != "hello" || !strings.Contains(string(e.Payload), `"role":"technician"`) {
		t.Fatalf("hello %s", e.Payload)
	}
	ping := func(id string) {
		t.Helper()
		good.WriteJSON(map[string]any{"v": 1, "type": "ping", "id": id})
		if e := readEnv(t, good); e.Type != "pong" || e.ID != id {
			t.Fatalf("good client after refusal: %+v", e)
		}
	}

	// No token.
	if _, code := dialWith(t, hs, nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", code)
	}
	if _, code := dialWith(t, hs, http.Header{"Authorization": {"Bearer wrong-token-000000"}}); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	ping("p1")
	// Foreign Origin, even with a valid token (a hostile page cannot read
	// the cookie, but the browser would send it).
	h := bearer.Clone()
	h.Set("Origin", "http://evil.example")
	if _, code := dialWith(t, hs, h); code != http.StatusForbidden {
		t.Fatalf("foreign origin: %d, want 403", code)
	}
	// DNS rebinding: the right Origin for the wrong Host.
	h = bearer.Clone()
	h.Set("Host", "evil.example:80")
	req, _ := http.NewRequest("GET", hs.URL+"/api/devices", nil)
	req.Host = "evil.example"
	req.Header = bearer.Clone()
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign Host: %v %v", resp.StatusCode, err)
	}
	ping("p2")

	// Oversize message: that connection is closed, the other goes on.
	big, _ := dialWith(t, hs, bearer)
	readEnv(t, big)
	big.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"ping","payload":{"x":"`+strings.Repeat("a", MaxMessageBytes)+`"}}`))
	big.SetReadDeadline(time.Now().Add(5 * time.Second))
	var err error
	for err == nil {
		_, _, err = big.ReadMessage()
	}
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Logf("oversize: connection ended with %v", err)
	}
	if strings.Contains(err.Error(), "timeout") {
		t.Fatalf("oversize message did not end the connection: %v", err)
	}
	ping("p3")
}

func TestRateLimit(t *testing.T) {
	_, hs := secureServer(t)
	ws, _ := dialWith(t, hs, http.Header{"Authorization": {"Bearer " + testToken}})
	readEnv(t, ws)
	// Burst 5 at 1/s: of 8 quick pings at least 2 are refused, with one
	// rate_limited error for the run.
	for i := range 8 {
		ws.WriteJSON(map[string]any{"v": 1, "type": "ping", "id": "p" + string(rune('0'+i))})
	}
	pongs, limited := 0, 0
	for pongs+limited < 6 {
		e := readEnv(t, ws)
		switch e.Type {
		case "pong":
			pongs++
		case "error":
			if !strings.Contains(string(e.Payload), "rate_limited") {
				t.Fatalf("error %s", e.Payload)
			}
			limited++
		}
	}
	if pongs > 6 || limited != 1 {
		t.Fatalf("%d pongs, %d rate_limited errors", pongs, limited)
	}
	// A client that keeps hammering is dropped.
	for range 100 {
		if ws.WriteJSON(map[string]any{"v": 1, "type": "ping"}) != nil {
			break
		}
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var err error
	for err == nil {
		_, _, err = ws.ReadMessage()
	}
	if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("hammering client: %v, want policy-violation close", err)
	}
}

func TestLoginCookieAndRoles(t *testing.T) {
	_, hs := secureServer(t)
	// who am I, before logging in
	resp, _ := http.Get(hs.URL + "/api/whoami")
	var who map[string]any
	json.NewDecoder(resp.Body).Decode(&who)
	resp.Body.Close()
	if who["authenticated"] != false || who["auth_required"] != true {
		t.Fatalf("whoami: %v", who)
	}
	if resp, _ := http.Get(hs.URL + "/api/devices"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("devices without login: %d", resp.StatusCode)
	}
	if _, resp := postLogin(t, hs, `{"user":"officer","password":"nope"}`); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	c, resp := postLogin(t, hs, `{"user":"officer","password":"pw-officer"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == CookieName {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v", ck)
	}
	if r, _ := c.Get(hs.URL + "/api/devices"); r.StatusCode != http.StatusOK {
		t.Fatalf("devices with cookie: %d", r.StatusCode)
	}
	ws, code := dialWith(t, hs, http.Header{"Cookie": {ck.Name + "=" + ck.Value}})
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("ws with cookie: %d", code)
	}
	readEnv(t, ws)
	ws.WriteJSON(map[string]any{"v": 1, "type": "whoami.cmd", "id": "w"})
	if e := readEnv(t, ws); !strings.Contains(string(e.Payload), `"name":"officer"`) {
		t.Fatalf("command user: %s", e.Payload)
	}
	ws.WriteJSON(map[string]any{"v": 1, "type": "device.selftest", "id": "d"})
	if e := readEnv(t, ws); e.Type != "error" || !strings.Contains(string(e.Payload), "forbidden") {
		t.Fatalf("operator ran a technician command: %s %s", e.Type, e.Payload)
	}
	// After logout the cookie is worthless.
	req, _ := http.NewRequest("POST", hs.URL+"/api/logout", nil)
	req.AddCookie(ck)
	http.DefaultClient.Do(req)
	if _, code := dialWith(t, hs, http.Header{"Cookie": {ck.Name + "=" + ck.Value}}); code != http.StatusUnauthorized {
		t.Fatalf("ws after logout: %d", code)
	}
	// A technician may run device commands.
	_, resp = postLogin(t, hs, `{"user":"tech","password":"pw-tech"}`)
	for _, k := range resp.Cookies() {
		if k.Name == CookieName {
			ck = k
		}
	}
	ws, _ = dialWith(t, hs, http.Header{"Cookie": {ck.Name + "=" + ck.Value}})
	readEnv(t, ws)
	ws.WriteJSON(map[string]any{"v": 1, "type": "device.selftest", "id": "d"})
	if e := readEnv(t, ws); e.Type != "device.selftest.result" {
		t.Fatalf("technician: %s %s", e.Type, e.Payload)
	}
	// A login posted by another site's page is refused.
	req, _ = http.NewRequest("POST", hs.URL+"/api/login", bytes.NewReader([]byte(`{"token":"`+testToken+`"}`)))
	req.Header.Set("Origin", "http://evil.example")
	if r, _ := http.DefaultClient.Do(req); r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site login: %d", r.StatusCode)
	}
}

func TestLoginLockout(t *testing.T) {
	_, hs := secureServer(t)
	for i := range loginFailures {
		if _, resp := postLogin(t, hs, `{"token":"wrong-wrong-wrong"}`); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	// Locked out now, even with the right token.
	if _, resp := postLogin(t, hs, `{"token":"`+testToken+`"}`); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %d, want 429", loginFailures, resp.StatusCode)
	}
}

func TestLoginLockoutExpires(t *testing.T) {
	a, err := NewAuth(AuthOptions{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	for range loginFailures {
		a.Login("1.2.3.4", "", "", "bad")
	}
	if _, _, err := a.Login("1.2.3.4", "", "", testToken); err != ErrTooManyLogins {
		t.Fatalf("locked: %v", err)
	}
	if _, _, err := a.Login("5.6.7.8", "", "", testToken); err != nil {
		t.Fatalf("other address: %v", err)
	}
	now = now.Add(loginWindow + time.Second)
	secret, _, err := a.Login("1.2.3.4", "", "", testToken)
	if err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// Sessions end after being idle.
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: CookieName, Value: secret})
	if _, ok := a.check(r); !ok {
		t.Fatal("fresh session refused")
	}
	now = now.Add(13 * time.Hour)
	if _, ok := a.check(r); ok {
		t.Fatal("idle session accepted")
	}
}
