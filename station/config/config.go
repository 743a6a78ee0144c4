// Package config loads stationd's configuration: one TOML file whose every
// key is documented in stationd.example.toml at the repository root.
//
// Loading is strict. An unknown key, a value of the wrong type or a value
// out of range stops start-up with an *Error naming the file, the line and
// the key, so a typo in the field never silently falls back to a default.
// Each device's [device.options] table is decoded into the options struct
// its driver registered (devices.Driver.NewOptions), just as strictly.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/packet"
	"github.com/openenroll/stationd/station/session"
)

// Config is the whole configuration of one station.
type Config struct {
	Station  Station  `toml:"station"`
	HTTP     HTTP     `toml:"http"`
	Log      Log      `toml:"log"`
	Registry Registry `toml:"registry"`
	Session  Session  `toml:"session"`
	Outbox   Outbox   `toml:"outbox"`
	Packet   Packet   `toml:"packet"`
	Uplink   Uplink   `toml:"uplink"`
	Card     Card     `toml:"card"`
	Auth     Auth     `toml:"auth"`
	Devices  []Device `toml:"device"`

	// File is the path the configuration was read from ("" for defaults).
	File string `toml:"-"`
}

// Station identifies the booth.
type Station struct {
	// ID names the station in packets and to the central: letters, digits,
	// '-' and '_', at most 64.
	ID string `toml:"id"`
	// DataDir holds the outbox, sessions in progress and keys.
	DataDir string `toml:"data_dir"`
}

// HTTP is the local server for the operator UI, metrics and health.
type HTTP struct {
	// Listen is host:port; the host must be a loopback address: the
	// operator UI is for the booth's own browser only.
	Listen string `toml:"listen"`
	// ShutdownTimeout bounds a graceful stop (SIGTERM).
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
}

// Log chooses how stationd logs.
type Log struct {
	Format string `toml:"format"` // "text" or "json"
	Level  string `toml:"level"`  // "debug", "info", "warn", "error"
}

// Registry tunes device supervision.
type Registry struct {
	OpenTimeout Duration `toml:"open_timeout"`
	RetryMin    Duration `toml:"retry_min"`
	RetryMax    Duration `toml:"retry_max"`
}

// Session is what every enrollment must contain and how captures run.
type Session struct {
	// FingerOrder lists finger positions (1 right thumb ... 10 left little)
	// in the order the officer is guided through.
	FingerOrder          []int          `toml:"finger_order"`
	MaxAttempts          int            `toml:"max_attempts"`
	DefaultThreshold     int            `toml:"default_threshold"`
	Thresholds           map[string]int `toml:"thresholds"` // finger position ("1".."10") -> score
	AcceptBelowThreshold bool           `toml:"accept_below_threshold"`
	ExceptionPhoto       bool           `toml:"exception_photo"`
	Face                 bool           `toml:"face"`
	Card                 string         `toml:"card"`
	FingerTimeout        Duration       `toml:"finger_timeout"`
}

// Outbox is the durable queue of finished packets.
type Outbox struct {
	// Path of the outbox file; default DATA_DIR/outbox.db.
	Path string `toml:"path"`
	// QuotaMB caps the disk space of packets held; 0 = no cap.
	QuotaMB int64 `toml:"quota_mb"`
	// Retention keeps acknowledged packets this long before purging.
	Retention Duration `toml:"retention"`
}

// Packet is how packets are signed, encrypted and encoded.
type Packet struct {
	// SigningKey is the station's Ed25519 key (PKCS#8 PEM, mode 0600); it
	// also authenticates the station to central's uplink.
	SigningKey string `toml:"signing_key"`
	// CentralPublicKey is the central's HPKE public key (PEM).
	CentralPublicKey  string  `toml:"central_public_key"`
	FingerCompression string  `toml:"finger_compression"`
	WSQBitrate        float64 `toml:"wsq_bitrate"`
	WSQAllocation     string  `toml:"wsq_allocation"`
	TOT               string  `toml:"tot"`
	DAI               string  `toml:"dai"`
	ORI               string  `toml:"ori"`
}

// Uplink is the link to central.
type Uplink struct {
	// URL of central's uplink websocket (wss://host/uplink); empty: no
	// uploads (packets wait in the outbox).
	URL string `toml:"url"`
	// CentralKeys verify central's receipts (ed25519 PEM); two during a
	// rotation.
	CentralKeys []string `toml:"central_keys"`
	// CAFile holds the CA certificates that issue central's TLS
	// certificate; CertFile/KeyFile the station's client certificate.
	CAFile   string `toml:"ca_file"`
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// RateLimitKBps caps upload bandwidth (kilobytes/s); 0 = no cap.
	RateLimitKBps int64 `toml:"rate_limit_kbps"`
	// Window is how many packets are sent at once.
	Window int `toml:"window"`
}

// Auth is who may use the operator UI and the local API.
type Auth struct {
	// Accounts are local users: name, role ("operator" or "technician")
	// and password_hash (make one with `stationctl hash-password`).
	Accounts []api.Account `toml:"accounts"`
	// Token is a fixed login token; empty: a random one is made at each
	// start and printed on stationd's output ("login token: ...").
	Token string `toml:"token"`
	// DisableToken allows account logins only.
	DisableToken bool `toml:"disable_token"`
	// TokenRole is the role of a token login: "technician" or "operator".
	TokenRole string `toml:"token_role"`
	// SessionIdle ends a login unused this long.
	SessionIdle Duration `toml:"session_idle"`
	// AllowedHosts are host names, besides loopback addresses and
	// localhost, the booth's browser may reach stationd by.
	AllowedHosts []string `toml:"allowed_hosts"`
}

// AuthOptions returns the API's authentication options.
func (a Auth) AuthOptions() api.AuthOptions {
	return api.AuthOptions{Accounts: a.Accounts, Token: a.Token, DisableToken: a.DisableToken,
		TokenRole: api.Role(a.TokenRole), SessionIdle: a.SessionIdle.Duration, AllowedHosts: a.AllowedHosts}
}

// Card is how chip cards are verified.
type Card struct {
	// CSCAFiles hold the country signing CA certificates (PEM or DER) that
	// document signers must chain to for passive authentication.
	CSCAFiles []string `toml:"csca_files"`
	// DSCert and DSKey are the document signer's certificate and PKCS#8
	// key (mode 0600) that sign EF.SOD when this station personalizes cards.
	DSCert string `toml:"ds_cert"`
	DSKey  string `toml:"ds_key"`
}

// Device is one [[device]] entry.
type Device struct {
	ID     string `toml:"id"`
	Driver string `toml:"driver"`
	Port   string `toml:"port"`
	// Options is the driver's own table, decoded into its options struct
	// after the first pass (see Load).
	Options map[string]any `toml:"options"`

	// Decoded holds the driver's options struct after loading.
	Decoded any `toml:"-"`
}

// DeviceConfig returns the registry's view of the device.
func (d Device) DeviceConfig() devices.Config {
	return devices.Config{ID: d.ID, Driver: d.Driver, Port: d.Port, Options: d.Decoded}
}

// Duration is a duration option written as "250ms" (devices.Duration).
type Duration = devices.Duration

// Default returns the configuration stationd runs with when no file is
// given: the simulated station of `make run`.
func Default() *Config {
	return &Config{
		Station: Station{ID: "sim-booth-01", DataDir: "var"},
		HTTP:    HTTP{Listen: "127.0.0.1:8787", ShutdownTimeout: Duration{Duration: 1500 * time.Millisecond}},
		Log:     Log{Format: "text", Level: "info"},
		Session: Session{
			FingerOrder: []int{2, 3, 4, 5, 7, 8, 9, 10, 1, 6}, MaxAttempts: 3, DefaultThreshold: 40,
			AcceptBelowThreshold: true, Face: true, Card: "none", FingerTimeout: Duration{Duration: 30 * time.Second},
		},
		Outbox: Outbox{QuotaMB: 4096, Retention: Duration{Duration: 7 * 24 * time.Hour}},
		Packet: Packet{FingerCompression: "PNG", WSQBitrate: 0.75, WSQAllocation: "fbi"},
		Uplink: Uplink{Window: 4},
		Auth:   Auth{TokenRole: "technician", SessionIdle: Duration{Duration: 12 * time.Hour}},
		Registry: Registry{
			OpenTimeout: Duration{Duration: devices.DefaultOptions.OpenTimeout},
			RetryMin:    Duration{Duration: devices.DefaultOptions.RetryMin},
			RetryMax:    Duration{Duration: devices.DefaultOptions.RetryMax},
		},
	}
}

// Error is a configuration mistake, located in its file.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted path, [[device]] entries indexed: device[1].options.baud
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %s", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and validates the configuration file at path. Keys missing
// from the file keep their defaults.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for a document already in memory; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	cfg := Default()
	cfg.File = name
	pos := indexPositions(data)
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, tomlError(name, nil, pos, err)
	}
	for i := range cfg.Devices {
		if err := decodeOptions(name, i, &cfg.Devices[i], pos); err != nil {
			return nil, err
		}
	}
	if err := cfg.validate(pos); err != nil {
		return nil, err
	}
	return cfg, nil
}

// tomlError turns a go-toml error into an *Error. prefix is the key path of
// the sub-document that was decoded (a device's options) so that the line
// can be found in the original file.
func tomlError(file string, prefix []string, pos positions, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		de := strict.Errors[0]
		path := append(append([]string(nil), prefix...), de.Key()...)
		line := pos.line(path)
		if prefix == nil {
			line, _ = de.Position()
		}
		return &Error{File: file, Line: line, Key: keyString(path), Msg: "unknown key (not a setting of this section; check its spelling against stationd.example.toml)"}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		path := append(append([]string(nil), prefix...), de.Key()...)
		line := pos.line(path)
		if prefix == nil {
			line, _ = de.Position()
		}
		return &Error{File: file, Line: line, Key: keyString(path), Msg: friendlier(de.Error())}
	}
	return &Error{File: file, Line: pos.line(prefix), Key: keyString(prefix), Msg: err.Error()}
}

var typeMismatch = regexp.MustCompile(`cannot decode TOML (\w+) into .* of type (\S+)$`)

// friendlier rewrites go-toml's wording, which names Go struct fields, in
// the terms of the file.
func friendlier(msg string) string {
	if m := typeMismatch.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("wrong type: a TOML %s where a %s is expected", m[1], m[2])
	}
	return strings.TrimPrefix(msg, "toml: ")
}

// keyString writes a path the way a reader finds it in the file:
// device.1.options.baud becomes device[1].options.baud.
func keyString(path []string) string {
	var b strings.Builder
	for i, k := range path {
		if isIndex(k) && i > 0 {
			fmt.Fprintf(&b, "[%s]", k)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(k)
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// decodeOptions decodes a device's options table into its driver's options
// struct, rejecting keys the driver does not know.
func decodeOptions(file string, i int, d *Device, pos positions) error {
	prefix := []string{"device", fmt.Sprint(i)}
	drv, ok := devices.Lookup(d.Driver)
	if !ok {
		return &Error{File: file, Line: pos.line(append(prefix, "driver")), Key: keyString(append(prefix, "driver")),
			Msg: fmt.Sprintf("unknown driver %q (this stationd knows %s)", d.Driver, strings.Join(devices.Drivers(), ", "))}
	}
	prefix = append(prefix, "options")
	if drv.NewOptions == nil {
		if len(d.Options) > 0 {
			return &Error{File: file, Line: pos.line(prefix), Key: keyString(prefix), Msg: fmt.Sprintf("driver %q takes no options", d.Driver)}
		}
		return nil
	}
	opts := drv.NewOptions()
	if len(d.Options) > 0 {
		// Re-encode the table and decode it into the driver's struct: the
		// same strict rules as the rest of the file.
		sub, err := toml.Marshal(d.Options)
		if err != nil {
			return &Error{File: file, Line: pos.line(prefix), Key: keyString(prefix), Msg: err.Error()}
		}
		dec := toml.NewDecoder(bytes.NewReader(sub)).DisallowUnknownFields()
		if err := dec.Decode(opts); err != nil {
			return tomlError(file, prefix, pos, err)
		}
	}
	if v, ok := opts.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				path := append(prefix, fe.Key)
				return &Error{File: file, Line: pos.line(path), Key: keyString(path), Msg: fe.Msg}
			}
			return &Error{File: file, Line: pos.line(prefix), Key: keyString(prefix), Msg: err.Error()}
		}
	}
	d.Decoded = opts
	return nil
}

// FieldError lets a driver's options Validate method name the offending key
// so that the error points at its line.
type FieldError struct {
	Key string // the option's toml name
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

var stationID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c *Config) validate(pos positions) error {
	bad := func(msg string, path ...string) error {
		return &Error{File: c.File, Line: pos.line(path), Key: keyString(path), Msg: msg}
	}
	if !stationID.MatchString(c.Station.ID) {
		return bad(fmt.Sprintf("%q is not a station id (1-64 letters, digits, '-' or '_')", c.Station.ID), "station", "id")
	}
	if c.Station.DataDir == "" {
		return bad("must not be empty", "station", "data_dir")
	}
	host, _, err := net.SplitHostPort(c.HTTP.Listen)
	if err != nil {
		return bad(fmt.Sprintf("%q is not host:port", c.HTTP.Listen), "http", "listen")
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return bad(fmt.Sprintf("%q is not a loopback address: the operator API must only be reachable from this computer (use 127.0.0.1)", host), "http", "listen")
	}
	if c.HTTP.ShutdownTimeout.Duration <= 0 {
		return bad("must be positive", "http", "shutdown_timeout")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad(fmt.Sprintf("%q: use \"text\" or \"json\"", c.Log.Format), "log", "format")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad(fmt.Sprintf("%q: use debug, info, warn or error", c.Log.Level), "log", "level")
	}
	for _, d := range []struct {
		v    Duration
		name string
	}{{c.Registry.OpenTimeout, "open_timeout"}, {c.Registry.RetryMin, "retry_min"}, {c.Registry.RetryMax, "retry_max"}} {
		if d.v.Duration <= 0 {
			return bad("must be positive", "registry", d.name)
		}
	}
	if c.Registry.RetryMax.Duration < c.Registry.RetryMin.Duration {
		return bad("must not be less than retry_min", "registry", "retry_max")
	}
	if err := c.Session.Policy().Validate(); err != nil {
		key, msg, _ := strings.Cut(err.Error(), ": ")
		if key == "threshold" {
			key = "thresholds"
		}
		return bad(msg, "session", key)
	}
	for k := range c.Session.Thresholds {
		if n, err := strconv.Atoi(k); err != nil || n < 1 || n > 10 {
			return bad(fmt.Sprintf("%q is not a finger position (1-10)", k), "session", "thresholds")
		}
	}
	if c.Session.FingerTimeout.Duration <= 0 {
		return bad("must be positive", "session", "finger_timeout")
	}
	if c.Outbox.QuotaMB < 0 {
		return bad("must not be negative", "outbox", "quota_mb")
	}
	switch c.Packet.FingerCompression {
	case "PNG", "WSQ20", "NONE":
	default:
		return bad(fmt.Sprintf("%q: use PNG, WSQ20 or NONE", c.Packet.FingerCompression), "packet", "finger_compression")
	}
	if c.Packet.WSQBitrate <= 0 || c.Packet.WSQBitrate > 8 {
		return bad("use a bit rate between 0 and 8 bits per pixel (0.75 is usual)", "packet", "wsq_bitrate")
	}
	if c.Packet.WSQAllocation != "fbi" && c.Packet.WSQAllocation != "mse" {
		return bad(fmt.Sprintf("%q: use fbi (the FBI formula, default) or mse (least pixel error)", c.Packet.WSQAllocation), "packet", "wsq_allocation")
	}
	if c.Uplink.URL != "" {
		u, err := url.Parse(c.Uplink.URL)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return bad(fmt.Sprintf("%q is not a ws:// or wss:// URL", c.Uplink.URL), "uplink", "url")
		}
		if len(c.Uplink.CentralKeys) == 0 {
			return bad("an uplink needs central's receipt key(s) to know a packet was delivered", "uplink", "central_keys")
		}
		if c.Packet.SigningKey == "" {
			return bad("an uplink needs the station's key", "packet", "signing_key")
		}
	}
	if c.Uplink.Window < 1 || c.Uplink.Window > 64 {
		return bad("use 1-64", "uplink", "window")
	}
	if _, err := api.NewAuth(c.Auth.AuthOptions()); err != nil {
		return bad(err.Error(), "auth")
	}
	if (c.Card.DSCert == "") != (c.Card.DSKey == "") {
		return bad("give both ds_cert and ds_key, or neither", "card", "ds_key")
	}
	if c.Session.Card == "personalize" && c.Card.DSCert == "" {
		return bad("personalizing cards needs the document signer: set ds_cert and ds_key", "card", "ds_cert")
	}
	seen := map[string]bool{}
	for i, d := range c.Devices {
		at := func(k string) []string { return []string{"device", fmt.Sprint(i), k} }
		if !stationID.MatchString(d.ID) {
			return bad(fmt.Sprintf("%q is not a device id (1-64 letters, digits, '-' or '_')", d.ID), at("id")...)
		}
		if seen[d.ID] {
			return bad(fmt.Sprintf("device id %q is used twice", d.ID), at("id")...)
		}
		seen[d.ID] = true
	}
	return nil
}

// Policy returns the session policy the configuration asks for.
func (s Session) Policy() session.Policy {
	p := session.Policy{
		FingerOrder: s.FingerOrder, MaxAttempts: s.MaxAttempts, DefaultThreshold: s.DefaultThreshold,
		AcceptBelowThreshold: s.AcceptBelowThreshold, ExceptionPhoto: s.ExceptionPhoto, Face: s.Face,
		Card: session.CardMode(s.Card),
	}
	for k, v := range s.Thresholds {
		if n, err := strconv.Atoi(k); err == nil {
			if p.Threshold == nil {
				p.Threshold = map[int]int{}
			}
			p.Threshold[n] = v
		}
	}
	return p
}

// PacketConfig returns the packet package's settings.
func (c *Config) PacketConfig() packet.Config {
	pc := packet.DefaultConfig()
	pc.SigningKey, pc.CentralPublicKey = c.Packet.SigningKey, c.Packet.CentralPublicKey
	pc.FingerCompression, pc.WSQBitrate = c.Packet.FingerCompression, c.Packet.WSQBitrate
	pc.WSQAllocation = c.Packet.WSQAllocation
	if c.Packet.TOT != "" {
		pc.TOT = c.Packet.TOT
	}
	if c.Packet.DAI != "" {
		pc.DAI = c.Packet.DAI
	}
	pc.ORI = c.Packet.ORI
	if pc.ORI == "" {
		pc.ORI = c.Station.ID
	}
	return pc
}

// OutboxPath is where the outbox file lives.
func (c *Config) OutboxPath() string {
	if c.Outbox.Path != "" {
		return c.Outbox.Path
	}
	return filepath.Join(c.Station.DataDir, "outbox.db")
}

// RegistryOptions returns the devices.Options the configuration asks for.
func (c *Config) RegistryOptions() devices.Options {
	return devices.Options{
		OpenTimeout: c.Registry.OpenTimeout.Duration,
		RetryMin:    c.Registry.RetryMin.Duration,
		RetryMax:    c.Registry.RetryMax.Duration,
	}
}
