package zfm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.bug.st/serial"
)

// Config tunes the protocol engine.
type Config struct {
	// Name identifies the scanner in errors (the device ID, or the port).
	Name string
	// Address is the module address every frame carries.
	Address uint32
	// CommandTimeout bounds the wait for each acknowledgement and each data
	// packet.
	CommandTimeout time.Duration
	// Timeouts overrides CommandTimeout for the acknowledgement of single
	// instructions (GenImg images the platen first and takes longer).
	Timeouts map[byte]time.Duration
	// Retries is how many times a command is sent again after a checksum
	// error, a malformed or missing answer, or a "packet receive error"
	// (code 0x01) from the module.
	Retries int
	// Present, if set, is asked after an I/O failure or a timeout whether
	// the port still exists; false makes the error ErrGone.
	Present func() bool
}

// readSlice bounds one blocking read, so that a cancelled context is seen
// within this time even when the module is silent.
const readSlice = 25 * time.Millisecond

// readTimeouter is the go.bug.st/serial way of bounding a read: Read
// returns (0, nil) when the timeout passes.
type readTimeouter interface {
	SetReadTimeout(time.Duration) error
}

// readDeadliner is the os.File/net.Conn way: Read fails with
// os.ErrDeadlineExceeded.
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// inputFlusher discards bytes received but not read (tcflush).
type inputFlusher interface {
	ResetInputBuffer() error
}

// Dev speaks the R30x/ZFM protocol over a byte stream. It runs one command
// at a time; methods are safe for concurrent use. The stream is a serial
// port in production, a pty in tests against the simulator, or a recorded
// transcript. Reads are cancellable only when the stream can bound a read
// (SetReadTimeout or SetReadDeadline).
type Dev struct {
	cfg Config

	mu    sync.Mutex // one command in flight
	conn  io.ReadWriter
	buf   []byte // received, not yet parsed
	rbuf  []byte
	wbuf  []byte
	gone  bool
	close bool
	// dirty: an answer was abandoned while the module may still be
	// sending it; the line is drained before the next command.
	dirty dirtiness
	// closing is set before the stream is closed under a running command,
	// so that the failing read is reported as ErrClosed, not as an unplug.
	closing atomic.Bool
}

type dirtiness uint8

const (
	clean       dirtiness = iota
	dirtyLate             // a command timed out: its answer may come late
	dirtyUpload           // an image upload was abandoned midway
)

// New returns a protocol engine on conn. It sends nothing.
func New(conn io.ReadWriter, cfg Config) *Dev {
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 2 * time.Second
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Name == "" {
		cfg.Name = "zfm"
	}
	return &Dev{cfg: cfg, conn: conn, rbuf: make([]byte, 1024)}
}

// Swap replaces the byte stream (after a baud change re-opened the port)
// and returns the old one.
func (d *Dev) Swap(conn io.ReadWriter) io.ReadWriter {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.conn
	d.conn, d.buf, d.gone = conn, d.buf[:0], false
	return old
}

// markClosed makes every later command fail with ErrClosed.
func (d *Dev) markClosed() {
	d.mu.Lock()
	d.close = true
	d.mu.Unlock()
}

func (d *Dev) errorf(op string, err error) error {
	return fmt.Errorf("fingerprint scanner %q: %s: %w", d.cfg.Name, op, err)
}

func (d *Dev) proto(op string, err error) error { return d.errorf(op, protoError{err}) }

// ioFailure classifies an error of the stream: a vanished device becomes
// ErrGone (and sticks), the rest is returned wrapped.
func (d *Dev) ioFailure(op string, err error) error {
	if d.closing.Load() {
		return d.errorf(op, ErrClosed)
	}
	if isGoneErr(err) || (d.cfg.Present != nil && !d.cfg.Present()) {
		d.gone = true
		return d.errorf(op, fmt.Errorf("%w (%v): check the scanner's USB cable", ErrGone, err))
	}
	return d.errorf(op, err)
}

func isGoneErr(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENXIO) ||
		errors.Is(err, syscall.ENODEV) || errors.Is(err, os.ErrNotExist) {
		return true
	}
	var pe *serial.PortError
	if errors.As(err, &pe) {
		return pe.Code() == serial.PortClosed
	}
	return false
}

// flushInput drops stale bytes before a command: what the driver buffered
// and, where the stream can, what the OS has queued.
func (d *Dev) flushInput() {
	d.buf = d.buf[:0]
	if f, ok := d.conn.(inputFlusher); ok {
		_ = f.ResetInputBuffer()
	}
}

func (d *Dev) send(op string, pid byte, payload []byte) error {
	d.wbuf = AppendFrame(d.wbuf[:0], Frame{Address: d.cfg.Address, PID: pid, Payload: payload})
	if _, err := d.conn.Write(d.wbuf); err != nil {
		return d.ioFailure(op, err)
	}
	return nil
}

// readFrame returns the next whole frame, waiting until deadline. A frame
// with a bad checksum is returned with an error wrapping ErrChecksum. The
// payload is a copy.
// limit is the timeout the deadline came from, for the error message.
func (d *Dev) readFrame(ctx context.Context, op string, deadline time.Time, limit time.Duration) (Frame, error) {
	for {
		f, n, err := ParseFrame(d.buf)
		if err == nil || errors.Is(err, ErrChecksum) {
			f.Payload = append([]byte(nil), f.Payload...)
			d.buf = d.buf[:copy(d.buf, d.buf[n:])]
			if err != nil {
				return f, d.proto(op, err)
			}
			if f.Address != d.cfg.Address {
				return f, d.proto(op, fmt.Errorf("%w: packet from address %08X, expected %08X", ErrMalformed, f.Address, d.cfg.Address))
			}
			return f, nil
		}
		// Garbage before a header is dropped as soon as it is seen, so the
		// buffer never holds more than one frame plus one read.
		d.buf = d.buf[:copy(d.buf, d.buf[n:])]
		if err := ctx.Err(); err != nil {
			return Frame{}, d.errorf(op, err)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			if d.cfg.Present != nil && !d.cfg.Present() {
				d.gone = true
				return Frame{}, d.errorf(op, fmt.Errorf("%w: the port disappeared: check the scanner's USB cable", ErrGone))
			}
			return Frame{}, d.proto(op, fmt.Errorf("%w (%v): check the scanner's cable and baud setting", ErrTimeout, limit))
		}
		wait = min(wait, readSlice)
		switch c := d.conn.(type) {
		case readTimeouter:
			_ = c.SetReadTimeout(wait)
		case readDeadliner:
			_ = c.SetReadDeadline(time.Now().Add(wait))
		}
		m, rerr := d.conn.Read(d.rbuf)
		d.buf = append(d.buf, d.rbuf[:m]...)
		if rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
			return Frame{}, d.ioFailure(op, rerr)
		}
	}
}

// quietTime is how long the line must stay silent, after a command timed
// out, for a late answer to count as not coming: a module sends an answer
// back to back, so a few byte times would do; this leaves room for
// scheduling on the host.
const quietTime = 3 * readSlice

// drain discards what the module may still send of an abandoned answer
// before the next command, so that no stale answer is taken for the next
// one. After an abandoned upload it reads up to the last data packet (or
// until the line has been silent for a whole command timeout); after a
// timeout, until the line has been quiet for quietTime.
func (d *Dev) drain(ctx context.Context, op string) error {
	quiet := quietTime
	if d.dirty == dirtyUpload {
		quiet = d.cfg.CommandTimeout
	}
	last := time.Now()
	for time.Since(last) < quiet {
		if err := ctx.Err(); err != nil {
			return d.errorf(op, err)
		}
		if d.dirty == dirtyUpload {
			// Parse what came: the last data packet ends the upload.
			for {
				f, n, err := ParseFrame(d.buf)
				d.buf = d.buf[:copy(d.buf, d.buf[n:])]
				if errors.Is(err, errNeedMore) {
					break
				}
				if f.PID == PIDDataLast {
					d.dirty = clean
					return nil
				}
			}
		}
		switch c := d.conn.(type) {
		case readTimeouter:
			_ = c.SetReadTimeout(readSlice)
		case readDeadliner:
			_ = c.SetReadDeadline(time.Now().Add(readSlice))
		default:
			d.dirty = clean // cannot bound a read: rely on resynchronisation
			return nil
		}
		n, err := d.conn.Read(d.rbuf)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return d.ioFailure(op, err)
		}
		if n > 0 {
			last = time.Now()
			if d.dirty == dirtyUpload {
				d.buf = append(d.buf, d.rbuf[:n]...)
			}
		}
	}
	d.dirty = clean
	return nil
}

// retryable says whether a failed exchange is worth repeating.
func retryable(err error) bool {
	if errors.Is(err, ErrGone) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var me *Error
	if errors.As(err, &me) {
		return me.Code == CodeRecvError
	}
	return errors.Is(err, ErrChecksum) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrMalformed)
}

// begin locks the engine for one command and checks it is usable.
func (d *Dev) begin(op string) error {
	d.mu.Lock()
	if d.close {
		d.mu.Unlock()
		return d.errorf(op, ErrClosed)
	}
	if d.gone {
		d.mu.Unlock()
		return d.errorf(op, fmt.Errorf("%w: check the scanner's USB cable", ErrGone))
	}
	return nil
}

// exchange sends one instruction and reads its acknowledgement (skipping
// stray data packets). It returns the confirmation code and the rest.
func (d *Dev) exchange(ctx context.Context, op string, cmd byte, params []byte) (Code, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, d.errorf(op, err)
	}
	if d.dirty != clean {
		if err := d.drain(ctx, op); err != nil {
			return 0, nil, err
		}
	}
	d.flushInput()
	payload := append([]byte{cmd}, params...)
	if err := d.send(op, PIDCommand, payload); err != nil {
		return 0, nil, err
	}
	timeout := d.cfg.CommandTimeout
	if t, ok := d.cfg.Timeouts[cmd]; ok && t > 0 {
		timeout = t
	}
	deadline := time.Now().Add(timeout)
	for {
		f, err := d.readFrame(ctx, op, deadline, timeout)
		if err != nil {
			if errors.Is(err, ErrTimeout) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				d.dirty = max(d.dirty, dirtyLate)
			}
			return 0, nil, err
		}
		if f.PID != PIDAck {
			continue // the tail of an earlier, abandoned upload
		}
		if len(f.Payload) < 1 {
			return 0, nil, d.proto(op, fmt.Errorf("%w: empty acknowledgement", ErrMalformed))
		}
		return Code(f.Payload[0]), f.Payload[1:], nil
	}
}

// Command runs one instruction and returns the acknowledgement's payload
// after the confirmation code. A code other than success is an *Error.
func (d *Dev) Command(ctx context.Context, op string, cmd byte, params []byte) ([]byte, error) {
	if err := d.begin(op); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var last error
	for attempt := 0; attempt <= d.cfg.Retries; attempt++ {
		code, rest, err := d.exchange(ctx, op, cmd, params)
		if err == nil && code != CodeOK {
			err = &Error{Device: d.cfg.Name, Op: op, Code: code}
		}
		if err == nil {
			return rest, nil
		}
		if !retryable(err) {
			return nil, err
		}
		last = err
	}
	return nil, last
}

// VerifyPassword sends VfyPwd (0x13).
func (d *Dev) VerifyPassword(ctx context.Context, password uint32) error {
	_, err := d.Command(ctx, "VfyPwd", CmdVfyPwd, binary.BigEndian.AppendUint32(nil, password))
	return err
}

// SysParams is the module's basic configuration (ReadSysPara).
type SysParams struct {
	Status        uint16
	SystemID      uint16
	LibrarySize   uint16
	SecurityLevel uint16
	Address       uint32
	PacketSize    int // bytes per data packet: 32, 64, 128 or 256
	Baud          int // bits per second: 9600 × N
}

// ReadSysParams sends ReadSysPara (0x0F): 16 bytes of parameters follow the
// confirmation code (manual, "Read system parameter").
func (d *Dev) ReadSysParams(ctx context.Context) (SysParams, error) {
	b, err := d.Command(ctx, "ReadSysPara", CmdReadSysPara, nil)
	if err != nil {
		return SysParams{}, err
	}
	if len(b) < 16 {
		return SysParams{}, d.proto("ReadSysPara", fmt.Errorf("%w: %d parameter bytes, expected 16", ErrMalformed, len(b)))
	}
	be := binary.BigEndian
	ps := be.Uint16(b[12:14])
	if ps > 3 {
		return SysParams{}, d.proto("ReadSysPara", fmt.Errorf("%w: packet size code %d at byte 12, expected 0..3", ErrMalformed, ps))
	}
	return SysParams{
		Status:        be.Uint16(b[0:2]),
		SystemID:      be.Uint16(b[2:4]),
		LibrarySize:   be.Uint16(b[4:6]),
		SecurityLevel: be.Uint16(b[6:8]),
		Address:       be.Uint32(b[8:12]),
		PacketSize:    32 << ps,
		Baud:          9600 * int(be.Uint16(b[14:16])),
	}, nil
}

// SetSysParam sends SetSysPara (0x0E) with a parameter number and value.
func (d *Dev) SetSysParam(ctx context.Context, param, value byte) error {
	_, err := d.Command(ctx, "SetSysPara", CmdSetSysPara, []byte{param, value})
	return err
}

// PacketSizeCode returns the SetSysPara value for a data packet size.
func PacketSizeCode(size int) (byte, error) {
	for c := range 4 {
		if 32<<c == size {
			return byte(c), nil
		}
	}
	return 0, fmt.Errorf("packet size %d: must be 32, 64, 128 or 256", size)
}

// BaudCode returns the SetSysPara value for a baud rate (9600 × N, N 1..12).
func BaudCode(baud int) (byte, error) {
	if baud%9600 != 0 || baud/9600 < 1 || baud/9600 > 12 {
		return 0, fmt.Errorf("baud %d: must be 9600 × N with N from 1 to 12 (9600 … 115200)", baud)
	}
	return byte(baud / 9600), nil
}

// GenImg sends GenImg (0x01): image the platen into the module's buffer.
// With no finger it returns an *Error with CodeNoFinger.
func (d *Dev) GenImg(ctx context.Context) error {
	_, err := d.Command(ctx, "GenImg", CmdGenImg, nil)
	return err
}

// TemplateCount sends TemplateNum (0x1D).
func (d *Dev) TemplateCount(ctx context.Context) (int, error) {
	b, err := d.Command(ctx, "TemplateNum", CmdTemplateNum, nil)
	if err != nil {
		return 0, err
	}
	if len(b) < 2 {
		return 0, d.proto("TemplateNum", fmt.Errorf("%w: %d count bytes, expected 2", ErrMalformed, len(b)))
	}
	return int(binary.BigEndian.Uint16(b)), nil
}

// AuraLED sends AuraLedConfig (0x35): control (1 breathing, 2 flashing,
// 3 on, 4 off, 5 fade in, 6 fade out), speed, colour index, cycles.
func (d *Dev) AuraLED(ctx context.Context, control, speed, color, count byte) error {
	_, err := d.Command(ctx, "AuraLedConfig", CmdAuraLedConfig, []byte{control, speed, color, count})
	return err
}

// LED sends OpenLED (0x50) or CloseLED (0x51), for modules with a plain
// LED.
func (d *Dev) LED(ctx context.Context, on bool) error {
	if on {
		_, err := d.Command(ctx, "OpenLED", CmdOpenLED, nil)
		return err
	}
	_, err := d.Command(ctx, "CloseLED", CmdCloseLED, nil)
	return err
}

// UpImage sends UpImage (0x0A) and collects the image the module sends in
// data packets (PID 02, the last one PID 08): 4-bit pixels, two per byte,
// high nibble first, row by row. want is the expected byte count
// (width × height / 2); a different count is ErrMalformed. A checksum error
// in any packet restarts the upload once the module has finished sending.
func (d *Dev) UpImage(ctx context.Context, want int) ([]byte, error) {
	const op = "UpImage"
	if err := d.begin(op); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var last error
	for attempt := 0; attempt <= d.cfg.Retries; attempt++ {
		data, err := d.upload(ctx, op, want)
		if err == nil {
			return data, nil
		}
		if !retryable(err) {
			return nil, err
		}
		last = err
	}
	return nil, last
}

func (d *Dev) upload(ctx context.Context, op string, want int) ([]byte, error) {
	code, _, err := d.exchange(ctx, op, CmdUpImage, nil)
	if err != nil {
		return nil, err
	}
	if code != CodeOK {
		return nil, &Error{Device: d.cfg.Name, Op: op, Code: code}
	}
	data := make([]byte, 0, want)
	var bad error
	for packets := 0; ; packets++ {
		f, err := d.readFrame(ctx, op, time.Now().Add(d.cfg.CommandTimeout), d.cfg.CommandTimeout)
		if err != nil && !errors.Is(err, ErrChecksum) {
			d.dirty = dirtyUpload // the module may still be sending
			return nil, err
		}
		if err != nil {
			bad = err // keep reading to the last packet, then retry
		} else if f.PID != PIDData && f.PID != PIDDataLast {
			return nil, d.proto(op, fmt.Errorf("%w: packet type 0x%02X in the image data (packet %d)", ErrMalformed, f.PID, packets))
		}
		data = append(data, f.Payload...)
		if len(data) > want+MaxPayload {
			return nil, d.errorf(op, fmt.Errorf("%w: more than %d image bytes: check image_width and image_height", ErrImageSize, want))
		}
		if f.PID == PIDDataLast {
			break
		}
	}
	if bad != nil {
		return nil, bad
	}
	if len(data) != want {
		return nil, d.errorf(op, fmt.Errorf("%w: image of %d bytes, expected %d: check image_width and image_height", ErrImageSize, len(data), want))
	}
	return data, nil
}
