// Package zfm drives the serial fingerprint modules of the R30x/ZFM family
// (R305, R307, R503, ZFM-20/60 and their clones) that speak the "EF01"
// packet protocol, and registers them with the device registry as driver
// "zfm".
//
// Dev is the protocol engine over any io.ReadWriter (a serial port, a pty,
// a recorded transcript); Scanner is the station's fingerprint.Scanner on
// top of it, opened on a real port with go.bug.st/serial. Numbers cited
// as "manual" come from the R30x/ZFM user manual (packet format,
// instruction table, confirmation codes) and the R503 manual (AuraLedConfig).
package zfm

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.bug.st/serial"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/fingerprint"
)

// DriverName is the name configuration files use.
const DriverName = "zfm"

func init() {
	devices.Register(devices.Driver{
		Name:       DriverName,
		Kind:       devices.KindFingerprint,
		NewOptions: func() any { o := DefaultOptions(); return &o },
		Open:       openDevice,
	})
}

// Duration is a duration option written as "250ms" (devices.Duration).
type Duration = devices.Duration

// Options are the [device.options] of a zfm scanner.
type Options struct {
	// Baud is the module's current line speed (factory setting 57600).
	Baud int `toml:"baud"`
	// Address is the module address (factory 0xFFFFFFFF = 4294967295).
	Address uint32 `toml:"address"`
	// Password is the module password VfyPwd sends (factory 0).
	Password uint32 `toml:"password"`
	// PollInterval is the pause between finger-detection attempts.
	PollInterval Duration `toml:"poll_interval"`
	// CommandTimeout bounds the wait for each answer and data packet.
	CommandTimeout Duration `toml:"command_timeout"`
	// GenImgTimeout bounds the answer to GenImg, which images the platen
	// before answering (R307: under 1 s).
	GenImgTimeout Duration `toml:"genimg_timeout"`
	// CaptureTimeout bounds the wait for a finger to be placed (and lifted).
	CaptureTimeout Duration `toml:"capture_timeout"`
	// Retries is how often a command is repeated after a line error.
	Retries int `toml:"retries"`
	// ImageWidth and ImageHeight are the sensor's image size in pixels
	// (R307/R503: 256 × 288).
	ImageWidth  int `toml:"image_width"`
	ImageHeight int `toml:"image_height"`
	// PPI is the sensor's resolution (≈500 for this family).
	PPI int `toml:"ppi"`
	// LED is how the module's light is driven: "aura" (AuraLedConfig, R50x),
	// "onoff" (OpenLED/CloseLED) or "none".
	LED string `toml:"led"`
	// PresenceInterval is how often the port's existence is checked while
	// the scanner is idle, so that an unplug is noticed without a command.
	PresenceInterval Duration `toml:"presence_interval"`
}

// DefaultOptions are the factory settings of an R307/R503.
func DefaultOptions() Options {
	return Options{
		Baud:             57600,
		Address:          DefaultAddress,
		PollInterval:     Duration{Duration: 100 * time.Millisecond},
		CommandTimeout:   Duration{Duration: time.Second},
		GenImgTimeout:    Duration{Duration: 2 * time.Second},
		CaptureTimeout:   Duration{Duration: 30 * time.Second},
		Retries:          2,
		ImageWidth:       256,
		ImageHeight:      288,
		PPI:              500,
		LED:              "aura",
		PresenceInterval: Duration{Duration: 250 * time.Millisecond},
	}
}

// Validate checks the options after they were read from configuration.
func (o *Options) Validate() error {
	if _, err := BaudCode(o.Baud); err != nil {
		return fmt.Errorf("baud: %v", err)
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"poll_interval", o.PollInterval}, {"command_timeout", o.CommandTimeout}, {"genimg_timeout", o.GenImgTimeout}, {"capture_timeout", o.CaptureTimeout}, {"presence_interval", o.PresenceInterval}} {
		if d.v.Duration <= 0 {
			return fmt.Errorf("%s: must be positive", d.name)
		}
	}
	if o.Retries < 0 || o.Retries > 10 {
		return fmt.Errorf("retries: %d is out of range 0..10", o.Retries)
	}
	if o.ImageWidth <= 0 || o.ImageHeight <= 0 || o.ImageWidth%2 != 0 || o.ImageWidth > 4096 || o.ImageHeight > 4096 {
		return fmt.Errorf("image_width × image_height: %d × %d must be positive, at most 4096, and the width even (two pixels per byte)", o.ImageWidth, o.ImageHeight)
	}
	if o.PPI < 100 || o.PPI > 2000 {
		return fmt.Errorf("ppi: %d is out of range 100..2000", o.PPI)
	}
	switch o.LED {
	case "aura", "onoff", "none":
	default:
		return fmt.Errorf("led: %q must be \"aura\", \"onoff\" or \"none\"", o.LED)
	}
	return nil
}

// Scanner is an open zfm module: a fingerprint.Scanner.
type Scanner struct {
	dev  *Dev
	opts Options
	id   string
	path string // port path, checked for presence; "" when not a file
	rep  devices.Reporter
	// reopen opens the port again at another speed (nil: cannot).
	reopen func(baud int) (io.ReadWriteCloser, error)

	mu     sync.Mutex
	port   io.Closer
	info   devices.Info
	params SysParams

	closed   atomic.Bool
	gone     atomic.Bool
	done     chan struct{}
	closeOne sync.Once
	wg       sync.WaitGroup
}

var _ fingerprint.Scanner = (*Scanner)(nil)

type nopReporter struct{}

func (nopReporter) SetState(devices.State, string) {}

func openDevice(ctx context.Context, cfg devices.Config, rep devices.Reporter) (devices.Device, error) {
	opts := DefaultOptions()
	switch o := cfg.Options.(type) {
	case nil:
	case *Options:
		opts = *o
	case Options:
		opts = o
	default:
		return nil, fmt.Errorf("fingerprint scanner %q: options of type %T, expected *zfm.Options", cfg.ID, cfg.Options)
	}
	return OpenPort(ctx, cfg.ID, cfg.Port, opts, rep)
}

// OpenPort opens the serial port at path, checks the module's password and
// reads its parameters. It fails at once when the port does not exist. id
// names the scanner in errors and events; rep may be nil.
func OpenPort(ctx context.Context, id, path string, opts Options, rep devices.Reporter) (*Scanner, error) {
	if id == "" {
		id = path
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("fingerprint scanner %q: options: %w", id, err)
	}
	if path == "" {
		return nil, fmt.Errorf("fingerprint scanner %q: no port configured: set port = \"/dev/ttyUSB0\" (or where the scanner is)", id)
	}
	open := func(baud int) (io.ReadWriteCloser, error) {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("fingerprint scanner %q: port %s not found: check that the scanner is plugged in (%w)", id, path, ErrGone)
		}
		p, err := serial.Open(path, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
		if err != nil {
			return nil, fmt.Errorf("fingerprint scanner %q: opening %s: %w", id, path, err)
		}
		return p, nil
	}
	port, err := open(opts.Baud)
	if err != nil {
		return nil, err
	}
	s, err := NewScanner(ctx, port, id, path, opts, rep, open)
	if err != nil {
		port.Close()
		return nil, err
	}
	return s, nil
}

// NewScanner starts a Scanner on an already open stream: it verifies the
// password and reads the system parameters. path (may be "") is watched for
// presence; reopen (may be nil) re-opens the port at another baud. On error
// the caller still owns conn.
func NewScanner(ctx context.Context, conn io.ReadWriteCloser, id, path string, opts Options, rep devices.Reporter, reopen func(baud int) (io.ReadWriteCloser, error)) (*Scanner, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("fingerprint scanner %q: options: %w", id, err)
	}
	if rep == nil {
		rep = nopReporter{}
	}
	s := &Scanner{opts: opts, id: id, path: path, rep: rep, reopen: reopen, port: conn, done: make(chan struct{})}
	s.dev = New(conn, Config{
		Name: id, Address: opts.Address, CommandTimeout: opts.CommandTimeout.Duration,
		Timeouts: map[byte]time.Duration{CmdGenImg: opts.GenImgTimeout.Duration},
		Retries:  opts.Retries, Present: s.present,
	})
	if err := s.handshake(ctx); err != nil {
		return nil, err
	}
	if path != "" {
		s.wg.Add(1)
		go s.watch()
	}
	return s, nil
}

func (s *Scanner) handshake(ctx context.Context) error {
	if err := s.dev.VerifyPassword(ctx, s.opts.Password); err != nil {
		if errors.Is(err, ErrTimeout) {
			return fmt.Errorf("%w (is the module at %d baud and address %08X?)", err, s.opts.Baud, s.opts.Address)
		}
		return err
	}
	p, err := s.dev.ReadSysParams(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.params = p
	s.info = devices.Info{
		ID: s.id, Kind: devices.KindFingerprint, Driver: DriverName,
		Model:    fmt.Sprintf("R30x/ZFM (library %d, security level %d)", p.LibrarySize, p.SecurityLevel),
		Firmware: fmt.Sprintf("system id 0x%04X", p.SystemID),
		Port:     s.path,
	}
	s.mu.Unlock()
	return nil
}

// present reports whether the port's path still exists.
func (s *Scanner) present() bool {
	if s.path == "" {
		return true
	}
	_, err := os.Stat(s.path)
	return err == nil
}

// watch notices an unplugged port while no command runs.
func (s *Scanner) watch() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.PresenceInterval.Duration)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			if !s.present() {
				s.lost(fmt.Sprintf("port %s disappeared: check the scanner's USB cable", s.path))
				return
			}
		}
	}
}

// lost reports the scanner absent, once; the registry then closes it and
// opens it again when the port returns.
func (s *Scanner) lost(detail string) {
	if s.closed.Load() || !s.gone.CompareAndSwap(false, true) {
		return
	}
	s.rep.SetState(devices.StateAbsent, detail)
}

// check turns a command's failure into an absent report when the port went.
func (s *Scanner) check(err error) error {
	if err != nil && errors.Is(err, ErrGone) {
		s.lost(err.Error())
	}
	return err
}

// Info returns the scanner's identity.
func (s *Scanner) Info() devices.Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// Params returns the system parameters read at open (or after SetBaud,
// SetPacketSize, SetSecurityLevel).
func (s *Scanner) Params() SysParams {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.params
}

// Dev returns the protocol engine, for commands the Scanner does not wrap.
func (s *Scanner) Dev() *Dev { return s.dev }

// Close closes the port. It interrupts a command in progress and is safe to
// call more than once.
func (s *Scanner) Close() error {
	var err error
	s.closeOne.Do(func() {
		s.closed.Store(true)
		s.dev.closing.Store(true)
		close(s.done)
		s.mu.Lock()
		port := s.port
		s.mu.Unlock()
		err = port.Close()
		s.wg.Wait()
		s.dev.markClosed()
	})
	return err
}

func (s *Scanner) setState(st devices.State, detail string) {
	if s.closed.Load() || s.gone.Load() {
		return
	}
	s.rep.SetState(st, detail)
}

// sleep waits d, or until ctx ends or the scanner closes.
func (s *Scanner) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	case <-t.C:
		return nil
	}
}

// retryImaging says whether a GenImg failure means "try again": no finger
// yet, or an imaging failure the next poll may not repeat.
func retryImaging(err error) bool {
	var me *Error
	return errors.As(err, &me) && (me.Code == CodeNoFinger || me.Code == CodeEnrollFail)
}

// Capture waits for a finger (polling GenImg every poll_interval), uploads
// the image and unpacks it to 8-bit gray.
func (s *Scanner) Capture(ctx context.Context, opts fingerprint.CaptureOptions) (*fingerprint.Image, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = s.opts.CaptureTimeout.Duration
	}
	s.setState(devices.StateBusy, "waiting for a finger")
	defer s.setState(devices.StateReady, "")
	deadline := time.Now().Add(timeout)
	for {
		err := s.dev.GenImg(ctx)
		if err == nil {
			break
		}
		if !retryImaging(err) {
			return nil, s.check(err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("fingerprint scanner %q: %w within %v: ask the person to place the finger flat on the glass, then try again", s.id, fingerprint.ErrNoFinger, timeout)
		}
		if err := s.sleep(ctx, min(left, s.opts.PollInterval.Duration)); err != nil {
			return nil, fmt.Errorf("fingerprint scanner %q: waiting for a finger: %w", s.id, err)
		}
	}
	captured := time.Now()
	s.setState(devices.StateBusy, "uploading the image")
	w, h := s.opts.ImageWidth, s.opts.ImageHeight
	data, err := s.dev.UpImage(ctx, w*h/2)
	if err != nil {
		return nil, s.check(err)
	}
	return &fingerprint.Image{
		Gray:     Unpack4(data, w, h),
		PPI:      s.opts.PPI,
		WidthMM:  float64(w) * 25.4 / float64(s.opts.PPI),
		HeightMM: float64(h) * 25.4 / float64(s.opts.PPI),
		Bits:     4,
		Captured: captured,
		Device:   s.id,
		Position: opts.Position,
	}, nil
}

// ErrNotLifted: the finger stayed on the sensor.
var ErrNotLifted = errors.New("finger still on the sensor")

// WaitLift polls GenImg until the module reports no finger.
func (s *Scanner) WaitLift(ctx context.Context) error {
	timeout := s.opts.CaptureTimeout.Duration
	deadline := time.Now().Add(timeout)
	s.setState(devices.StateBusy, "waiting for the finger to lift")
	defer s.setState(devices.StateReady, "")
	for {
		err := s.dev.GenImg(ctx)
		if errors.Is(err, fingerprint.ErrNoFinger) {
			return nil
		}
		if err != nil && !retryImaging(err) {
			return s.check(err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("fingerprint scanner %q: %w after %v: ask the person to lift the finger", s.id, ErrNotLifted, timeout)
		}
		if err := s.sleep(ctx, min(left, s.opts.PollInterval.Duration)); err != nil {
			return fmt.Errorf("fingerprint scanner %q: waiting for the finger to lift: %w", s.id, err)
		}
	}
}

// auraControl maps LED modes onto AuraLedConfig control codes (R503 manual:
// 1 breathing, 2 flashing, 3 on, 4 off, 5 fade in, 6 fade out).
var auraControl = map[fingerprint.LEDMode]byte{
	fingerprint.LEDBreathing: 1, fingerprint.LEDFlashing: 2, fingerprint.LEDOn: 3,
	fingerprint.LEDOff: 4, fingerprint.LEDFadeIn: 5, fingerprint.LEDFadeOut: 6,
}

// SetLED drives the module's light as the led option says.
func (s *Scanner) SetLED(ctx context.Context, led fingerprint.LED) error {
	switch s.opts.LED {
	case "aura":
		c, ok := auraControl[led.Mode]
		if !ok {
			return fmt.Errorf("fingerprint scanner %q: LED mode %d: %w", s.id, led.Mode, fingerprint.ErrNotSupported)
		}
		if led.Color < fingerprint.LEDRed || led.Color > fingerprint.LEDWhite {
			if led.Mode != fingerprint.LEDOff {
				return fmt.Errorf("fingerprint scanner %q: LED colour %d: %w", s.id, led.Color, fingerprint.ErrNotSupported)
			}
			led.Color = fingerprint.LEDRed
		}
		return s.check(s.dev.AuraLED(ctx, c, led.Speed, byte(led.Color), led.Count))
	case "onoff":
		on := led.Mode != fingerprint.LEDOff && led.Mode != fingerprint.LEDFadeOut
		return s.check(s.dev.LED(ctx, on))
	default:
		return fmt.Errorf("fingerprint scanner %q: LED: %w (option led = \"none\")", s.id, fingerprint.ErrNotSupported)
	}
}

// TemplateCount returns how many templates the module's library holds.
func (s *Scanner) TemplateCount(ctx context.Context) (int, error) {
	n, err := s.dev.TemplateCount(ctx)
	return n, s.check(err)
}

// SetBaud switches the module to another line speed (SetSysPara register
// 4), re-opens the port at that speed and reads the parameters back to
// confirm. The module keeps the speed across power cycles: the station's
// baud option must be changed to match.
func (s *Scanner) SetBaud(ctx context.Context, baud int) error {
	code, err := BaudCode(baud)
	if err != nil {
		return fmt.Errorf("fingerprint scanner %q: %w", s.id, err)
	}
	if s.reopen == nil {
		return fmt.Errorf("fingerprint scanner %q: changing the baud needs a port the driver opened: %w", s.id, fingerprint.ErrNotSupported)
	}
	if err := s.dev.SetSysParam(ctx, ParamBaud, code); err != nil {
		return s.check(err)
	}
	// The module answered at the old speed and now listens at the new one.
	conn, err := s.reopen(baud)
	if err != nil {
		s.lost(err.Error())
		return err
	}
	old := s.dev.Swap(conn)
	s.mu.Lock()
	s.port = conn
	s.opts.Baud = baud
	s.mu.Unlock()
	if c, ok := old.(io.Closer); ok {
		c.Close()
	}
	return s.refresh(ctx)
}

// SetPacketSize sets the data packet size (32, 64, 128 or 256 bytes).
func (s *Scanner) SetPacketSize(ctx context.Context, size int) error {
	code, err := PacketSizeCode(size)
	if err != nil {
		return fmt.Errorf("fingerprint scanner %q: %w", s.id, err)
	}
	if err := s.dev.SetSysParam(ctx, ParamPacketSize, code); err != nil {
		return s.check(err)
	}
	return s.refresh(ctx)
}

// SetSecurityLevel sets the module's matching security level (1..5).
func (s *Scanner) SetSecurityLevel(ctx context.Context, level int) error {
	if level < 1 || level > 5 {
		return fmt.Errorf("fingerprint scanner %q: security level %d: must be 1..5", s.id, level)
	}
	if err := s.dev.SetSysParam(ctx, ParamSecurity, byte(level)); err != nil {
		return s.check(err)
	}
	return s.refresh(ctx)
}

func (s *Scanner) refresh(ctx context.Context) error {
	p, err := s.dev.ReadSysParams(ctx)
	if err != nil {
		return s.check(err)
	}
	s.mu.Lock()
	s.params = p
	s.mu.Unlock()
	return nil
}

// Unpack4 expands 4-bit pixels, two per byte with the high nibble first
// (manual, UpImage), to 8-bit gray: each nibble × 17 maps 0..15 onto 0..255.
func Unpack4(data []byte, w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	n := min(len(data), w*h/2)
	for i, b := range data[:n] {
		img.Pix[2*i] = (b >> 4) * 17
		img.Pix[2*i+1] = (b & 0x0F) * 17
	}
	return img
}
