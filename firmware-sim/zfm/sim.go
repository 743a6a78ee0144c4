// Package zfm simulates the firmware of an R30x/ZFM serial fingerprint
// module behind a pseudo-terminal, so that the station's zfm driver (or a
// technician's serial tool) talks to it exactly as to a module on a
// USB-serial adapter.
//
// The simulator holds the module's system parameters, password and
// address, answers GenImg, UpImage, ReadSysPara, SetSysPara, VfyPwd,
// TemplateNum, AuraLedConfig and OpenLED/CloseLED, emulates the line rate
// that a pty does not (8N1 at the module's baud), and can be scripted:
// place a finger image on the platen, lift it, inject line faults, hang
// the port up and bring it back. It is written from the module manual,
// independently of the driver, and must never import it.
package zfm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Config describes the simulated module. Zero fields take the factory
// defaults of an R307.
type Config struct {
	// Dir holds the stable symlink to the current pty; default: a new
	// temporary directory (removed by Close).
	Dir string
	// Link is the symlink's name in Dir (default "zfm0").
	Link string
	// Address and Password (factory 0xFFFFFFFF and 0). SetPassword makes
	// a zero password count as "set": the module then demands VfyPwd.
	Address     uint32
	Password    uint32
	SetPassword bool
	// Baud is the module's line speed (default 57600).
	Baud int
	// PacketSize is the data packet size, 32/64/128/256 (default 128).
	PacketSize int
	// SecurityLevel 1..5 (default 3), LibrarySize (default 1000),
	// Templates stored (TemplateNum, default 0).
	SecurityLevel, LibrarySize, Templates int
	// Width and Height of the sensor image (default 256 × 288, even width).
	Width, Height int
	// NoPacing delivers bytes as fast as the pty takes them.
	NoPacing bool
	// IgnoreLineSpeed answers whatever speed the host set on its end of
	// the pty. By default a host at another speed than the module gets no
	// answer, as with a real module.
	IgnoreLineSpeed bool
	// GenImgTime is how long GenImg takes with a finger on the platen.
	GenImgTime time.Duration
	Logger     *slog.Logger
}

func (c *Config) defaults() error {
	if c.Address == 0 {
		c.Address = 0xFFFFFFFF
	}
	if c.Baud == 0 {
		c.Baud = 57600
	}
	if c.Baud%9600 != 0 || c.Baud < 9600 || c.Baud > 115200 {
		return fmt.Errorf("zfm sim: baud %d is not 9600 × N (N 1..12)", c.Baud)
	}
	if c.PacketSize == 0 {
		c.PacketSize = 128
	}
	if sizeCode(c.PacketSize) < 0 {
		return fmt.Errorf("zfm sim: packet size %d is not 32, 64, 128 or 256", c.PacketSize)
	}
	if c.SecurityLevel == 0 {
		c.SecurityLevel = 3
	}
	if c.LibrarySize == 0 {
		c.LibrarySize = 1000
	}
	if c.Width == 0 {
		c.Width = 256
	}
	if c.Height == 0 {
		c.Height = 288
	}
	if c.Width <= 0 || c.Height <= 0 || c.Width%2 != 0 {
		return fmt.Errorf("zfm sim: sensor %d × %d: width must be even and both positive", c.Width, c.Height)
	}
	if c.Link == "" {
		c.Link = "zfm0"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func sizeCode(n int) int {
	for c := 0; c < 4; c++ {
		if 32<<c == n {
			return c
		}
	}
	return -1
}

// LED is the state of the module's light.
type LED struct {
	// Control is the last AuraLedConfig control (1 breathing, 2 flashing,
	// 3 on, 4 off, 5 fade in, 6 fade out); 0 none yet.
	Control, Speed, Color, Count byte
	// On is the plain LED (OpenLED/CloseLED).
	On bool
}

// Sim is a running simulated module.
type Sim struct {
	cfg     Config
	log     *slog.Logger
	tempDir string
	link    string

	mu         sync.Mutex
	baud       int
	packetSize int
	security   int
	address    uint32
	password   uint32
	pwdSet     bool
	verified   bool
	finger     *image.Gray // sensor-sized; nil: platen empty
	buffer     []byte      // ImageBuffer, 4-bit packed; nil: empty
	led        LED
	faults     []Fault
	line       *line // current pty; nil while hung up
	closed     bool
	commands   map[byte]int
	cmdSeen    chan struct{} // closed and replaced on every command
	speedWarns int

	txBytes, rxBytes atomic.Int64
}

// line is one pty pair and the goroutine serving it.
type line struct {
	master *os.File // non-blocking, so Close interrupts a Read
	slave  *os.File // kept open so the master never sees a hang-up
	name   string
	quit   chan struct{}
	done   chan struct{}
	tx, rx pacer
}

// Start opens the pty, points the symlink at it and starts answering.
func Start(cfg Config) (*Sim, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Sim{
		cfg: cfg, log: cfg.Logger, baud: cfg.Baud, packetSize: cfg.PacketSize,
		security: cfg.SecurityLevel, address: cfg.Address, password: cfg.Password,
		pwdSet: cfg.Password != 0 || cfg.SetPassword, commands: map[byte]int{},
		cmdSeen: make(chan struct{}),
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "zfmsim-")
		if err != nil {
			return nil, fmt.Errorf("zfm sim: %w", err)
		}
		dir, s.tempDir = d, d
	}
	s.link = filepath.Join(dir, cfg.Link)
	if err := s.Return(); err != nil {
		if s.tempDir != "" {
			os.RemoveAll(s.tempDir)
		}
		return nil, err
	}
	return s, nil
}

// Path is the stable path of the module's port (a symlink to the pty).
func (s *Sim) Path() string { return s.link }

// PTY is the current pty device ("" while hung up).
func (s *Sim) PTY() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.line == nil {
		return ""
	}
	return s.line.name
}

// Return plugs the module in: a new pty, and the symlink pointed at it. It
// is a no-op while connected.
func (s *Sim) Return() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("zfm sim: closed")
	}
	if s.line != nil {
		return nil
	}
	m, t, err := pty.Open()
	if err != nil {
		return fmt.Errorf("zfm sim: opening a pty: %w", err)
	}
	if err := makeRaw(int(t.Fd())); err != nil {
		m.Close()
		t.Close()
		return fmt.Errorf("zfm sim: raw mode on %s: %w", t.Name(), err)
	}
	// pty.Open leaves the master in blocking mode; a blocking Read cannot
	// be interrupted by Close. Re-wrap a non-blocking duplicate so that the
	// runtime poller owns it.
	fd, err := unix.Dup(int(m.Fd()))
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	m.Close()
	if err != nil {
		t.Close()
		return fmt.Errorf("zfm sim: pty master: %w", err)
	}
	l := &line{
		master: os.NewFile(uintptr(fd), "ptmx"), slave: t, name: t.Name(),
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	tmp := s.link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(l.name, tmp); err == nil {
		err = os.Rename(tmp, s.link)
	}
	if err != nil {
		l.master.Close()
		l.slave.Close()
		return fmt.Errorf("zfm sim: linking %s: %w", s.link, err)
	}
	s.line = l
	s.verified = false // power-on
	s.log.Info("zfm sim: port up", "port", s.link, "pty", l.name)
	go s.serve(l)
	return nil
}

// Hangup unplugs the module: the symlink goes, the pty closes (the host
// sees its port hang up). It waits for the serving goroutine to stop.
func (s *Sim) Hangup() error {
	s.mu.Lock()
	l := s.line
	s.line = nil
	if l != nil {
		os.Remove(s.link)
	}
	s.mu.Unlock()
	if l == nil {
		return nil
	}
	close(l.quit)
	l.master.Close()
	<-l.done
	l.slave.Close()
	s.log.Info("zfm sim: port hung up", "port", s.link)
	return nil
}

// Close hangs up for good and removes the temporary directory.
func (s *Sim) Close() error {
	err := s.Hangup()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
	return err
}

// Place puts a finger on the platen: img is centred on the sensor, cropped
// or padded with white. nil lifts.
func (s *Sim) Place(img image.Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if img == nil {
		s.finger = nil
		return
	}
	s.finger = fitSensor(img, s.cfg.Width, s.cfg.Height)
}

// Lift takes the finger off the platen.
func (s *Sim) Lift() { s.Place(nil) }

// Platen returns a copy of the 8-bit image on the platen (nil when empty).
func (s *Sim) Platen() *image.Gray {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finger == nil {
		return nil
	}
	c := *s.finger
	c.Pix = append([]byte(nil), s.finger.Pix...)
	return &c
}

// fitSensor centres src on a white sensor-sized canvas.
func fitSensor(src image.Image, w, h int) *image.Gray {
	dst := image.NewGray(image.Rect(0, 0, w, h))
	for i := range dst.Pix {
		dst.Pix[i] = 0xFF
	}
	b := src.Bounds()
	off := image.Pt((w-b.Dx())/2, (h-b.Dy())/2)
	r := b.Sub(b.Min).Add(off).Intersect(dst.Bounds())
	draw.Draw(dst, r, src, b.Min.Add(r.Min.Sub(off)), draw.Src)
	return dst
}

// LED returns the light's state.
func (s *Sim) LED() LED {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.led
}

// Params is what ReadSysPara would report now.
type Params struct {
	Baud, PacketSize, SecurityLevel int
	Address                         uint32
}

// Params returns the module's current system parameters.
func (s *Sim) Params() Params {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Params{Baud: s.baud, PacketSize: s.packetSize, SecurityLevel: s.security, Address: s.address}
}

// Commands returns how many times each instruction code was received.
func (s *Sim) Commands() map[byte]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[byte]int, len(s.commands))
	for k, v := range s.commands {
		m[k] = v
	}
	return m
}

// WaitCommand blocks until instruction ins has been received at least n
// times in all, or ctx ends.
func (s *Sim) WaitCommand(ctx context.Context, ins byte, n int) error {
	for {
		s.mu.Lock()
		got, seen := s.commands[ins], s.cmdSeen
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-seen:
		}
	}
}

// WireBytes returns how many bytes the module has sent and received.
func (s *Sim) WireBytes() (tx, rx int64) { return s.txBytes.Load(), s.rxBytes.Load() }

var errQuit = errors.New("zfm sim: line closed")

// serve reads frames from the host and answers them, until the line closes.
func (s *Sim) serve(l *line) {
	defer close(l.done)
	var buf []byte
	rb := make([]byte, 4096)
	for {
		n, err := l.master.Read(rb)
		now := time.Now()
		if n > 0 {
			s.rxBytes.Add(int64(n))
			buf = append(buf, rb[:n]...)
		}
		for {
			f, ok, skip := scan(buf)
			if !ok {
				buf = buf[skip:]
				break
			}
			buf = buf[f.wire:]
			if !s.cfg.NoPacing {
				// The pty delivered the frame at once; a UART would still
				// be receiving it. Answer only after its last byte.
				s.mu.Lock()
				l.rx.baud = s.baud
				s.mu.Unlock()
				l.rx.idle(now)
				if !sleepUntil(l.rx.reserve(f.wire), l.quit) {
					return
				}
			}
			if err := s.handle(l, f); err != nil {
				if !errors.Is(err, errQuit) {
					s.log.Warn("zfm sim: writing to the pty", "err", err)
				}
				return
			}
		}
		if len(buf) > 64*1024 {
			buf = buf[len(buf)-maxFrameLen:]
		}
		if err != nil {
			select {
			case <-l.quit:
			default:
				s.log.Warn("zfm sim: reading the pty", "err", err)
			}
			return
		}
	}
}

// hostSpeed reads the line speed the host configured on its end.
func hostSpeed(fd int) (int, error) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS2)
	if err != nil {
		return 0, err
	}
	return int(t.Ospeed), nil
}

func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// reply is what the module sends for one command: frames, and what to do
// after sending them.
type reply struct {
	frames [][]byte
	after  func() // under s.mu, after the frames went out (baud change)
}

// handle answers one frame.
func (s *Sim) handle(l *line, f hostFrame) error {
	s.mu.Lock()
	if f.addr != s.address {
		s.mu.Unlock()
		return nil // another module's frame: a real module stays silent
	}
	if !s.cfg.IgnoreLineSpeed {
		if sp, err := hostSpeed(int(l.slave.Fd())); err == nil && sp != s.baud {
			if s.speedWarns < 3 {
				s.speedWarns++
				s.log.Warn("zfm sim: host line speed differs from the module's; not answering", "host", sp, "module", s.baud)
			}
			s.mu.Unlock()
			return nil
		}
	}
	var fault Fault
	if len(s.faults) > 0 {
		fault, s.faults = s.faults[0], s.faults[1:]
	}
	var r reply
	var delay time.Duration
	switch {
	case f.pid != pidCommand:
		s.mu.Unlock()
		return nil // data download is not simulated
	case !f.sumOK || len(f.payload) == 0:
		r.frames = [][]byte{s.ack(ccRecvError)}
	default:
		s.commands[f.payload[0]]++
		close(s.cmdSeen)
		s.cmdSeen = make(chan struct{})
		r, delay = s.execute(f.payload[0], f.payload[1:])
	}
	if fault.Kind == FaultCode && len(r.frames) > 0 {
		r.frames[0] = s.ack(fault.Code, ackParams(r.frames[0])...)
		r.frames, r.after = r.frames[:1], nil
	}
	s.mu.Unlock()

	if delay > 0 && !sleepUntil(time.Now().Add(delay), l.quit) {
		return errQuit
	}
	if fault.Kind == FaultStall {
		return nil
	}
	if fault.Kind == FaultHangup {
		go s.Hangup()
		return errQuit
	}
	frames := applyFault(fault, r.frames)
	s.mu.Lock()
	l.tx.baud = s.baud
	if s.cfg.NoPacing {
		l.tx.baud = 0
	}
	s.mu.Unlock()
	l.tx.idle(time.Now())
	for _, fr := range frames {
		if err := l.tx.write(l.master, fr, l.quit); err != nil {
			return err
		}
		s.txBytes.Add(int64(len(fr)))
	}
	if r.after != nil {
		s.mu.Lock()
		r.after()
		s.mu.Unlock()
	}
	return nil
}

// ack is an acknowledgement with a confirmation code and parameters.
func (s *Sim) ack(code byte, params ...byte) []byte {
	return packet(s.address, pidAck, append([]byte{code}, params...))
}

// ackParams returns the parameters after the code of an encoded ack.
func ackParams(fr []byte) []byte {
	if len(fr) < 12 {
		return nil
	}
	return fr[10 : len(fr)-2]
}

// execute runs one instruction; s.mu is held.
func (s *Sim) execute(ins byte, p []byte) (reply, time.Duration) {
	one := func(code byte, params ...byte) reply { return reply{frames: [][]byte{s.ack(code, params...)}} }
	if s.pwdSet && !s.verified && ins != insVfyPwd {
		return one(ccNeedPassword), 0
	}
	switch ins {
	case insVfyPwd:
		if len(p) != 4 {
			return one(ccRecvError), 0
		}
		if binary.BigEndian.Uint32(p) != s.password {
			return one(ccWrongPwd), 0
		}
		s.verified = true
		return one(ccOK), 0
	case insReadSysPara:
		var status uint16
		if s.verified || !s.pwdSet {
			status |= 1 << 2 // PWD: handshake passed
		}
		if s.buffer != nil {
			status |= 1 << 3 // ImgBufStat: the buffer holds an image
		}
		b := binary.BigEndian.AppendUint16(nil, status)
		b = binary.BigEndian.AppendUint16(b, 0x0009) // system identifier (manual: constant 0x0009)
		b = binary.BigEndian.AppendUint16(b, uint16(s.cfg.LibrarySize))
		b = binary.BigEndian.AppendUint16(b, uint16(s.security))
		b = binary.BigEndian.AppendUint32(b, s.address)
		b = binary.BigEndian.AppendUint16(b, uint16(sizeCode(s.packetSize)))
		b = binary.BigEndian.AppendUint16(b, uint16(s.baud/9600))
		return one(ccOK, b...), 0
	case insSetSysPara:
		if len(p) != 2 {
			return one(ccRecvError), 0
		}
		v := int(p[1])
		switch p[0] {
		case 4: // baud = 9600 × N; the ack still goes out at the old speed
			if v < 1 || v > 12 {
				return one(ccBadRegConf), 0
			}
			r := one(ccOK)
			r.after = func() { s.baud = 9600 * v }
			return r, 0
		case 5:
			if v < 1 || v > 5 {
				return one(ccBadRegConf), 0
			}
			s.security = v
		case 6:
			if v > 3 {
				return one(ccBadRegConf), 0
			}
			s.packetSize = 32 << v
		default:
			return one(ccBadRegister), 0
		}
		return one(ccOK), 0
	case insGenImg:
		if s.finger == nil {
			return one(ccNoFinger), 0
		}
		s.buffer = pack4(s.finger)
		return one(ccOK), s.cfg.GenImgTime
	case insUpImage:
		if s.buffer == nil {
			return one(ccUploadImage), 0
		}
		r := one(ccOK)
		for off := 0; off < len(s.buffer); off += s.packetSize {
			end := min(off+s.packetSize, len(s.buffer))
			pid := byte(pidData)
			if end == len(s.buffer) {
				pid = pidDataLast
			}
			r.frames = append(r.frames, packet(s.address, pid, s.buffer[off:end]))
		}
		return r, 0
	case insTemplateNum:
		return one(ccOK, byte(s.cfg.Templates>>8), byte(s.cfg.Templates)), 0
	case insAuraLedConfig:
		if len(p) != 4 {
			return one(ccRecvError), 0
		}
		if p[0] < 1 || p[0] > 6 || p[2] < 1 || p[2] > 7 {
			return one(ccBadRegConf), 0
		}
		s.led.Control, s.led.Speed, s.led.Color, s.led.Count = p[0], p[1], p[2], p[3]
		return one(ccOK), 0
	case insOpenLED, insCloseLED:
		s.led.On = ins == insOpenLED
		return one(ccOK), 0
	}
	return one(ccNoDefinition), 0
}

// pack4 quantises to 4 bits and packs two pixels per byte, high nibble
// first (manual, UpImage).
func pack4(g *image.Gray) []byte {
	w, h := g.Bounds().Dx(), g.Bounds().Dy()
	out := make([]byte, 0, w*h/2)
	for y := 0; y < h; y++ {
		row := g.Pix[y*g.Stride : y*g.Stride+w]
		for x := 0; x < w; x += 2 {
			out = append(out, row[x]&0xF0|row[x+1]>>4)
		}
	}
	return out
}

// Quantise4 returns what a host unpacking the module's 4-bit upload
// (nibble × 17) sees of img: for tests comparing uploads.
func Quantise4(img *image.Gray) *image.Gray {
	c := image.NewGray(img.Rect)
	for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
		for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
			c.Pix[c.PixOffset(x, y)] = (img.GrayAt(x, y).Y >> 4) * 17
		}
	}
	return c
}

// String describes the module's state for the control interface.
func (s *Sim) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	finger := "lifted"
	if s.finger != nil {
		finger = "placed"
	}
	return "port " + s.link + " baud " + strconv.Itoa(s.baud) + " packet " + strconv.Itoa(s.packetSize) +
		" security " + strconv.Itoa(s.security) + " finger " + finger + " faults " + strconv.Itoa(len(s.faults))
}
