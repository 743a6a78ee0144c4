package api

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Role is what a logged-in user may do.
type Role string

// Roles. A technician may do everything an operator may, plus the device
// commands (self-tests, calibration).
const (
	RoleOperator   Role = "operator"
	RoleTechnician Role = "technician"
)

// Account is one local user, as the configuration lists it.
type Account struct {
	Name string `toml:"name" json:"name"`
	Role Role   `toml:"role" json:"role"`
	// PasswordHash is HashPassword's output, never the password itself.
	PasswordHash string `toml:"password_hash" json:"-"`
}

// AuthOptions configure who may use the API. The zero value means: no
// accounts, and a random login token made at start (print it with
// Auth.Token so the person at the booth can log in).
type AuthOptions struct {
	Accounts []Account `toml:"accounts"`
	// Token is a fixed login token (tests, kiosks provisioned by a
	// script). Empty: a random one is made unless DisableToken is set.
	Token string `toml:"token"`
	// DisableToken turns token login off (accounts only).
	DisableToken bool `toml:"disable_token"`
	// TokenRole is the role a token login gets; technician by default,
	// since whoever can read stationd's output administers the booth.
	TokenRole Role `toml:"token_role"`
	// SessionIdle ends a login session unused for this long (default 12 h:
	// one working day).
	SessionIdle time.Duration `toml:"session_idle"`
	// AllowedHosts are extra Host header names (besides loopback addresses
	// and "localhost") the browser may reach stationd by.
	AllowedHosts []string `toml:"allowed_hosts"`
}

// Auth checks logins and the session cookies or tokens of requests.
type Auth struct {
	opts     AuthOptions
	token    string
	accounts map[string]Account

	mu       sync.Mutex
	sessions map[string]*login      // by sha256 of the session secret
	failures map[string][]time.Time // remote IP -> recent failed logins
	now      func() time.Time
}

type login struct {
	User    string
	Role    Role
	Expires time.Time
}

// Login-guessing limits: per remote address, at most loginFailures failed
// logins within loginWindow; beyond that logins are refused until the
// window has passed.
const (
	loginFailures = 5
	loginWindow   = time.Minute
	// maxSessions bounds the login sessions kept; the least recently
	// used are forgotten first (a booth has one or two browsers).
	maxSessions = 64
	// CookieName is the session cookie the browser UI carries.
	CookieName = "stationd_session"
	// pbkdf2Iterations follows OWASP's 2023 recommendation for
	// PBKDF2-HMAC-SHA256 (600 000).
	pbkdf2Iterations = 600_000
)

// NewAuth checks the options and returns the authenticator.
func NewAuth(opts AuthOptions) (*Auth, error) {
	a := &Auth{opts: opts, accounts: map[string]Account{}, sessions: map[string]*login{},
		failures: map[string][]time.Time{}, now: time.Now}
	if a.opts.SessionIdle <= 0 {
		a.opts.SessionIdle = 12 * time.Hour
	}
	if a.opts.TokenRole == "" {
		a.opts.TokenRole = RoleTechnician
	}
	if a.opts.TokenRole != RoleOperator && a.opts.TokenRole != RoleTechnician {
		return nil, fmt.Errorf("auth token_role %q: use operator or technician", a.opts.TokenRole)
	}
	for i, acc := range opts.Accounts {
		if acc.Name == "" || len(acc.Name) > 64 {
			return nil, fmt.Errorf("auth accounts[%d]: name must be 1-64 characters", i)
		}
		if acc.Role != RoleOperator && acc.Role != RoleTechnician {
			return nil, fmt.Errorf("auth account %q: role %q, use operator or technician", acc.Name, acc.Role)
		}
		if _, err := parseHash(acc.PasswordHash); err != nil {
			return nil, fmt.Errorf("auth account %q: password_hash: %v (make one with stationctl passwd or api.HashPassword)", acc.Name, err)
		}
		if _, dup := a.accounts[acc.Name]; dup {
			return nil, fmt.Errorf("auth account %q listed twice", acc.Name)
		}
		a.accounts[acc.Name] = acc
	}
	if !opts.DisableToken {
		a.token = opts.Token
		if a.token == "" {
			a.token = randomToken(15)
		} else if len(a.token) < 12 {
			return nil, errors.New("auth token: use at least 12 characters")
		}
	}
	if a.token == "" && len(a.accounts) == 0 {
		return nil, errors.New("auth: token login disabled and no accounts: nobody could log in")
	}
	return a, nil
}

// Token is the login token (empty when token login is disabled). stationd
// prints it at start.
func (a *Auth) Token() string { return a.token }

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	// Base32-ish without confusable characters would be friendlier to
	// type; base64url keeps it short and copy-pasteable.
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashPassword returns the string to put in an account's password_hash:
// PBKDF2-HMAC-SHA256 (RFC 8018) with a random salt, as
// "pbkdf2-sha256$ITERATIONS$SALT$KEY" (salt and key base64, no padding).
func HashPassword(password string) (string, error) {
	return hashWith(password, pbkdf2Iterations)
}

func hashWith(password string, iter int) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", iter, base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key)), nil
}

type pwHash struct {
	iter      int
	salt, key []byte
}

func parseHash(s string) (pwHash, error) {
	var h pwHash
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return h, errors.New(`not "pbkdf2-sha256$ITERATIONS$SALT$KEY"`)
	}
	it, err := strconv.Atoi(parts[1])
	// Fewer than 10 000 iterations is too weak to accept; more than 10
	// million would let a config file stall every login.
	if err != nil || it < 10_000 || it > 10_000_000 {
		return h, fmt.Errorf("iterations %q: use 10000-10000000", parts[1])
	}
	h.iter = it
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[2]); err != nil || len(h.salt) < 8 {
		return h, errors.New("salt: not base64 of at least 8 bytes")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[3]); err != nil || len(h.key) < 16 {
		return h, errors.New("key: not base64 of at least 16 bytes")
	}
	return h, nil
}

// CheckPassword reports whether password matches a HashPassword string.
func CheckPassword(hash, password string) bool {
	h, err := parseHash(hash)
	if err != nil {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, password, h.salt, h.iter, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(key, h.key) == 1
}

// dummyHash is checked for unknown user names, so that a login for a user
// that does not exist takes as long as one with a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashWith("not a password", pbkdf2Iterations)
	return h
})

// ErrLogin is the one answer to a wrong user, password or token: which of
// them was wrong is not revealed.
var ErrLogin = errors.New("wrong user name, password or token")

// ErrTooManyLogins is returned while a remote address is locked out.
var ErrTooManyLogins = errors.New("too many failed logins: wait a minute and try again")

// Login checks a user and password, or a token (user empty), and returns
// a new session secret for the cookie.
func (a *Auth) Login(remote, user, password, token string) (secret string, l login, err error) {
	if a.lockedOut(remote) {
		return "", l, ErrTooManyLogins
	}
	ok := false
	switch {
	case user != "":
		acc, found := a.accounts[user]
		hash := acc.PasswordHash
		if !found {
			hash = dummyHash()
		}
		ok = CheckPassword(hash, password) && found
		l = login{User: acc.Name, Role: acc.Role}
	case token != "" && a.token != "":
		ok = subtle.ConstantTimeCompare([]byte(token), []byte(a.token)) == 1
		l = login{User: "token", Role: a.opts.TokenRole}
	}
	if !ok {
		a.fail(remote)
		return "", login{}, ErrLogin
	}
	secret = randomToken(32)
	a.mu.Lock()
	defer a.mu.Unlock()
	l.Expires = a.now().Add(a.opts.SessionIdle)
	if len(a.sessions) >= maxSessions {
		a.evictLocked()
	}
	a.sessions[sessionKey(secret)] = &l
	return secret, l, nil
}

func sessionKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func (a *Auth) evictLocked() {
	var oldest string
	var when time.Time
	for k, l := range a.sessions {
		if oldest == "" || l.Expires.Before(when) {
			oldest, when = k, l.Expires
		}
	}
	delete(a.sessions, oldest)
}

func (a *Auth) lockedOut(remote string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	cut := a.now().Add(-loginWindow)
	f := a.failures[remote]
	for len(f) > 0 && f[0].Before(cut) {
		f = f[1:]
	}
	if len(f) == 0 {
		delete(a.failures, remote)
	} else {
		a.failures[remote] = f
	}
	return len(f) >= loginFailures
}

func (a *Auth) fail(remote string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) > 1024 { // bound memory under a spray of addresses
		a.failures = map[string][]time.Time{}
	}
	a.failures[remote] = append(a.failures[remote], a.now())
}

// Logout forgets a session secret.
func (a *Auth) Logout(secret string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sessions, sessionKey(secret))
}

// check returns who a request is: from its session cookie, or from an
// "Authorization: Bearer" header carrying a session secret or the login
// token (programs such as stationctl).
func (a *Auth) check(r *http.Request) (login, bool) {
	var secrets []string
	if c, err := r.Cookie(CookieName); err == nil {
		secrets = append(secrets, c.Value)
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		b := strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
		if a.token != "" && subtle.ConstantTimeCompare([]byte(b), []byte(a.token)) == 1 {
			return login{User: "token", Role: a.opts.TokenRole}, true
		}
		secrets = append(secrets, b)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for _, s := range secrets {
		k := sessionKey(s)
		l, ok := a.sessions[k]
		if !ok {
			continue
		}
		if now.After(l.Expires) {
			delete(a.sessions, k)
			continue
		}
		l.Expires = now.Add(a.opts.SessionIdle)
		return *l, true
	}
	return login{}, false
}

// hostAllowed guards against DNS rebinding: a page from a hostile name that
// resolves to 127.0.0.1 reaches stationd with that name in Host.
func hostAllowed(host string, extra []string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, e := range extra {
		if strings.EqualFold(h, e) {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// User is the logged-in user a command runs for.
type User struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// UserFrom returns the user a command runs for; ok is false when the API
// runs without authentication.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(ctxKey{}).(User)
	return u, ok
}

// loginRequest is POST /api/login's body.
type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	Token    string `json:"token"`
}

const maxLoginBody = 4 << 10

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) {
	a := s.opts.Auth
	if a == nil {
		writeJSON(w, http.StatusOK, map[string]any{"authenticated": true, "auth_required": false})
		return
	}
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "forbidden", "login from another site's page")
		return
	}
	var in loginRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLoginBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "login body: "+err.Error())
		return
	}
	secret, l, err := a.Login(remoteIP(r), in.User, in.Password, in.Token)
	switch {
	case errors.Is(err, ErrTooManyLogins):
		s.log.Warn("login refused: too many failures", "remote", r.RemoteAddr)
		writeError(w, http.StatusTooManyRequests, "rate_limited", err.Error())
		return
	case err != nil:
		s.log.Info("login failed", "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "login_failed", err.Error())
		return
	}
	s.log.Info("login", "user", l.User, "role", l.Role, "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: secret, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(a.opts.SessionIdle / time.Second)})
	writeJSON(w, http.StatusOK, map[string]any{"authenticated": true, "auth_required": true,
		"user": l.User, "role": l.Role})
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request) {
	if a := s.opts.Auth; a != nil {
		if c, err := r.Cookie(CookieName); err == nil {
			a.Logout(c.Value)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]any{"authenticated": false})
}

func (s *Server) apiWhoami(w http.ResponseWriter, r *http.Request) {
	if s.opts.Auth == nil {
		writeJSON(w, http.StatusOK, map[string]any{"authenticated": true, "auth_required": false, "user": "", "role": RoleTechnician})
		return
	}
	l, ok := s.opts.Auth.check(r)
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"authenticated": false, "auth_required": true,
			"token_login": s.opts.Auth.token != "", "accounts": len(s.opts.Auth.accounts) > 0})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"authenticated": true, "auth_required": true, "user": l.User, "role": l.Role})
}

// guard wraps a handler that needs a logged-in user and an allowed Host.
func (s *Server) guard(h func(http.ResponseWriter, *http.Request, User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var extra []string
		if s.opts.Auth != nil {
			extra = s.opts.Auth.opts.AllowedHosts
		}
		if !hostAllowed(r.Host, extra) {
			s.log.Warn("request refused: Host is not this station", "remote", r.RemoteAddr, "host", r.Host)
			writeError(w, http.StatusForbidden, "forbidden", "Host "+r.Host+" is not this station (DNS rebinding?)")
			return
		}
		u := User{Role: RoleTechnician}
		if s.opts.Auth != nil {
			l, ok := s.opts.Auth.check(r)
			if !ok {
				writeError(w, http.StatusUnauthorized, "unauthorized", "log in first (session cookie or Authorization: Bearer token)")
				return
			}
			u = User{Name: l.User, Role: l.Role}
		}
		h(w, r, u)
	}
}

func remoteIP(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, c, msg string) {
	writeJSON(w, code, ErrorPayload{Code: c, Message: msg})
}
