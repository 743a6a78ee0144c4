package zfm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// host is a test's end of the pty, without any driver: raw bytes only.
type host struct {
	t *testing.T
	f *os.File
}

func dial(t *testing.T, s *Sim) *host {
	t.Helper()
	f, err := os.OpenFile(s.Path(), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &host{t, f}
}

func (h *host) send(payload ...byte) {
	h.t.Helper()
	if _, err := h.f.Write(packet(0xFFFFFFFF, pidCommand, payload)); err != nil {
		h.t.Fatal(err)
	}
}

// frame reads one frame (the test's own minimal reader).
func (h *host) frame(timeout time.Duration) (pid byte, payload []byte, err error) {
	h.f.SetReadDeadline(time.Now().Add(timeout))
	hdr := make([]byte, 9)
	if _, err := io.ReadFull(h.f, hdr); err != nil {
		return 0, nil, err
	}
	if hdr[0] != 0xEF || hdr[1] != 0x01 {
		return 0, nil, errors.New("bad header")
	}
	n := int(binary.BigEndian.Uint16(hdr[7:9]))
	rest := make([]byte, n)
	if _, err := io.ReadFull(h.f, rest); err != nil {
		return 0, nil, err
	}
	want := packet(binary.BigEndian.Uint32(hdr[2:6]), hdr[6], rest[:n-2])
	if !bytes.Equal(want, append(hdr, rest...)) {
		return 0, nil, errors.New("bad checksum")
	}
	return hdr[6], rest[:n-2], nil
}

func (h *host) ack(want byte) []byte {
	h.t.Helper()
	pid, p, err := h.frame(2 * time.Second)
	if err != nil || pid != pidAck || len(p) == 0 || p[0] != want {
		h.t.Fatalf("ack: pid %02X payload % X err %v, want code %02X", pid, p, err, want)
	}
	return p[1:]
}

func start(t *testing.T, cfg Config) *Sim {
	t.Helper()
	if cfg.Width == 0 {
		cfg.Width, cfg.Height = 32, 20
	}
	cfg.IgnoreLineSpeed = true // the test's host does not set a speed
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestProtocol(t *testing.T) {
	s := start(t, Config{NoPacing: true, PacketSize: 32})
	h := dial(t, s)
	h.send(insGenImg)
	h.ack(ccNoFinger)
	h.send(insUpImage)
	h.ack(ccUploadImage) // nothing imaged yet

	finger := BuiltinFinger(32, 20, 4)
	s.Place(finger)
	h.send(insGenImg)
	h.ack(ccOK)
	h.send(insUpImage)
	h.ack(ccOK)
	var data []byte
	packets := 0
	for {
		pid, p, err := h.frame(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		packets++
		data = append(data, p...)
		if pid == pidDataLast {
			break
		}
		if pid != pidData || len(p) != 32 {
			t.Fatalf("packet %d: pid %02X, %d bytes", packets, pid, len(p))
		}
	}
	if packets != 32*20/2/32 || len(data) != 320 {
		t.Fatalf("%d packets, %d bytes", packets, len(data))
	}
	q := Quantise4(finger)
	for i, b := range data {
		if hi, lo := (b>>4)*17, (b&15)*17; hi != q.Pix[2*i] || lo != q.Pix[2*i+1] {
			t.Fatalf("byte %d = %02X, platen %d %d", i, b, finger.Pix[2*i], finger.Pix[2*i+1])
		}
	}

	h.send(insReadSysPara)
	p := h.ack(ccOK)
	if len(p) != 16 || binary.BigEndian.Uint16(p[12:]) != 0 || binary.BigEndian.Uint16(p[14:]) != 6 || p[1]&(1<<3) == 0 {
		t.Fatalf("sys para % X", p)
	}
	h.send(insSetSysPara, 6, 3)
	h.ack(ccOK)
	h.send(insSetSysPara, 6, 4)
	h.ack(ccBadRegConf)
	h.send(insSetSysPara, 7, 1)
	h.ack(ccBadRegister)
	h.send(insTemplateNum)
	h.ack(ccOK)
	h.send(insAuraLedConfig, 2, 10, 7, 0)
	h.ack(ccOK)
	h.send(insAuraLedConfig, 9, 10, 7, 0)
	h.ack(ccBadRegConf)
	h.send(insOpenLED)
	h.ack(ccOK)
	h.send(0x77)
	h.ack(ccNoDefinition)
	if s.Params().PacketSize != 256 || s.LED() != (LED{Control: 2, Speed: 10, Color: 7, On: true}) {
		t.Fatalf("params %+v led %+v", s.Params(), s.LED())
	}

	// A corrupted command gets "packet receive error".
	bad := packet(0xFFFFFFFF, pidCommand, []byte{insGenImg})
	bad[len(bad)-1] ^= 1
	h.f.Write(append([]byte{0x00, 0xEF}, bad...)) // with noise before it
	h.ack(ccRecvError)
	// Another module's address: silence.
	h.f.Write(packet(0x01020304, pidCommand, []byte{insGenImg}))
	if _, _, err := h.frame(50 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("answered a frame for another address: %v", err)
	}
}

func TestPassword(t *testing.T) {
	s := start(t, Config{NoPacing: true, Password: 7})
	h := dial(t, s)
	h.send(insGenImg)
	h.ack(ccNeedPassword)
	h.send(insVfyPwd, 0, 0, 0, 8)
	h.ack(ccWrongPwd)
	h.send(insVfyPwd, 0, 0, 0, 7)
	h.ack(ccOK)
	h.send(insGenImg)
	h.ack(ccNoFinger)
}

func TestFaultsOnTheWire(t *testing.T) {
	s := start(t, Config{NoPacing: true})
	h := dial(t, s)
	s.Inject(Fault{Kind: FaultChecksum}, 1)
	h.send(insTemplateNum)
	if _, _, err := h.frame(time.Second); err == nil || err.Error() != "bad checksum" {
		t.Fatalf("checksum fault: %v", err)
	}
	s.Inject(Fault{Kind: FaultStall}, 1)
	h.send(insTemplateNum)
	if _, _, err := h.frame(50 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stall fault: %v", err)
	}
	s.Inject(Fault{Kind: FaultCode, Code: 0x06}, 1)
	h.send(insTemplateNum)
	h.ack(0x06)
	s.Inject(Fault{Kind: FaultGarbage}, 1)
	h.send(insTemplateNum)
	h.f.SetReadDeadline(time.Now().Add(time.Second))
	g := make([]byte, len(garbage))
	if _, err := io.ReadFull(h.f, g); err != nil || !bytes.Equal(g, garbage) {
		t.Fatalf("garbage % X, %v", g, err)
	}
	h.ack(ccOK)
	s.Inject(Fault{Kind: FaultDrop}, 1)
	h.send(insTemplateNum)
	h.f.SetReadDeadline(time.Now().Add(2 * time.Second))
	got := make([]byte, 14-3) // a TemplateNum answer is 14 bytes
	if _, err := io.ReadFull(h.f, got); err != nil {
		t.Fatalf("drop fault: %v", err)
	}
	h.f.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _ := h.f.Read(make([]byte, 16)); n != 0 {
		t.Fatalf("drop fault: %d more bytes after the 11 expected", n)
	}
}

func TestHangupAndReturn(t *testing.T) {
	s := start(t, Config{NoPacing: true})
	h := dial(t, s)
	first := s.PTY()
	s.Inject(Fault{Kind: FaultHangup}, 1)
	h.send(insGenImg)
	h.f.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := h.f.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after hang-up: %v", err)
	}
	if err := s.Hangup(); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path()); !os.IsNotExist(err) {
		t.Fatalf("port path still there: %v", err)
	}
	if err := s.Return(); err != nil {
		t.Fatal(err)
	}
	if s.PTY() == "" || s.PTY() == first {
		t.Fatalf("returned on %q (was %q)", s.PTY(), first)
	}
	h2 := dial(t, s)
	h2.send(insGenImg)
	h2.ack(ccNoFinger)
}

func TestLineSpeedMismatch(t *testing.T) {
	s, err := Start(Config{NoPacing: true, Width: 8, Height: 8, Baud: 57600})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := dial(t, s) // the pty's speed is left at its default (38400)
	h.send(insGenImg)
	if _, _, err := h.frame(100 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("answered at the wrong line speed: %v", err)
	}
}

// TestPacingNeverFaster checks the lower bound of line-rate emulation: the
// bytes cannot arrive before a real 8N1 line could carry them. (How close
// to the line rate it gets is a benchmark's business.)
func TestPacingNeverFaster(t *testing.T) {
	s := start(t, Config{Baud: 115200, Width: 64, Height: 40, PacketSize: 32})
	s.Place(BuiltinFinger(64, 40, 1))
	h := dial(t, s)
	h.send(insGenImg)
	h.ack(ccOK)
	tx0, _ := s.WireBytes()
	begin := time.Now()
	h.send(insUpImage)
	h.ack(ccOK)
	for {
		pid, _, err := h.frame(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if pid == pidDataLast {
			break
		}
	}
	took := time.Since(begin)
	tx1, _ := s.WireBytes()
	line := time.Duration((tx1 - tx0) * 10 * int64(time.Second) / 115200)
	if took < line {
		t.Fatalf("%d bytes arrived in %v, faster than the line (%v)", tx1-tx0, took, line)
	}
}

func TestPacerSchedule(t *testing.T) {
	p := pacer{baud: 115200}
	t0 := time.Now()
	p.idle(t0)
	a := p.reserve(10)
	if want := t0.Add(10 * p.byteTime()); !a.Equal(want) {
		t.Fatalf("first chunk due %v, want %v", a.Sub(t0), want.Sub(t0))
	}
	// Within an answer the schedule continues however late the clock is:
	// a late wake-up is caught up, not added.
	if b := p.reserve(10); !b.Equal(a.Add(10 * p.byteTime())) {
		t.Fatalf("second chunk due %v after the first", b.Sub(a))
	}
	// A new answer after an idle line earns no credit.
	later := a.Add(time.Second)
	p.idle(later)
	if c := p.reserve(1); !c.Equal(later.Add(p.byteTime())) {
		t.Fatalf("after idle: due %v", c.Sub(later))
	}
	// 57600 baud: 173.6 µs a byte (10 bits).
	if bt := (&pacer{baud: 57600}).byteTime(); bt != 173611*time.Nanosecond {
		t.Fatalf("byte time at 57600: %v", bt)
	}
}

func TestControl(t *testing.T) {
	s := start(t, Config{NoPacing: true})
	ctx := context.Background()
	dir := t.TempDir()
	png := filepath.Join(dir, "f.png")
	writePNG(t, png, BuiltinFinger(40, 40, 2))
	for _, tc := range []struct{ cmd, want string }{
		{"place builtin:3", "ok finger placed"},
		{"status", "finger placed"},
		{"lift", "ok finger lifted"},
		{"place " + png, "ok finger placed"},
		{"fault checksum 2", "armed for 2"},
		{"fault code:0x06", "armed for 1"},
		{"status", "faults 3"},
		{"clear", "ok faults cleared"},
		{"fault nonsense", "error: unknown fault"},
		{"fault code:x", "error: fault"},
		{"place /nonexistent.png", "error: place"},
		{"place synth:1:11", "error: place"},
		{"bogus", "error: unknown command"},
		{"help", "place [SOURCE]"},
		{"# comment", "ok"},
	} {
		var out bytes.Buffer
		if err := s.ServeControl(ctx, strings.NewReader(tc.cmd+"\n"), &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%q answered %q, want %q", tc.cmd, out.String(), tc.want)
		}
	}
	if s.Platen() == nil {
		t.Fatal("PNG finger not on the platen")
	}
	// The PNG is centred on the white sensor.
	if p := s.Platen(); p.GrayAt(0, 0).Y != 255 || p.Rect != image.Rect(0, 0, 32, 20) {
		t.Fatalf("platen %v corner %d", p.Rect, p.GrayAt(0, 0).Y)
	}
	if err := s.RunScript(ctx, "lift; sleep 1ms; place builtin"); err != nil {
		t.Fatal(err)
	}
	if err := s.RunScript(ctx, "lift; explode"); err == nil || !strings.Contains(err.Error(), "explode") {
		t.Fatalf("bad script: %v", err)
	}
}

func TestControlSocket(t *testing.T) {
	s := start(t, Config{NoPacing: true})
	ctx, cancel := context.WithCancel(context.Background())
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	wait, err := s.ListenControl(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "place builtin:9\nhangup\nreturn\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	var got string
	for strings.Count(got, "\n") < 3 {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got += string(buf[:n])
	}
	if !strings.Contains(got, "ok finger placed\nok port hung up\nok port: "+s.Path()) {
		t.Fatalf("control answered %q", got)
	}
	c.Close()
	cancel()
	wait()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("control socket not removed after cancel: %v", err)
	}
}

func TestSynthFinger(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("renders a synthetic master print: about a second, far more under -race")
	}
	img, err := LoadSource("synth:1:2", 256, 288)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 256 || img.Bounds().Dy() != 288 {
		t.Fatalf("synthetic finger %v", img.Bounds())
	}
}

func FuzzScan(f *testing.F) {
	f.Add(packet(0xFFFFFFFF, pidCommand, []byte{insGenImg}))
	f.Add(append([]byte{0xEF, 0xEF, 0x01, 0, 0}, packet(1, pidCommand, []byte{insVfyPwd, 0, 0, 0, 0})...))
	f.Add([]byte{0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			fr, ok, skip := scan(b)
			if !ok {
				if skip < 0 || skip > len(b) {
					t.Fatalf("skip %d of %d", skip, len(b))
				}
				return
			}
			if fr.wire <= 0 || fr.wire > len(b) {
				t.Fatalf("frame of %d bytes in %d", fr.wire, len(b))
			}
			if fr.sumOK {
				enc := packet(fr.addr, fr.pid, fr.payload)
				if !bytes.Equal(enc, b[fr.wire-len(enc):fr.wire]) {
					t.Fatalf("accepted % X, re-encodes as % X", b[fr.wire-len(enc):fr.wire], enc)
				}
			}
			b = b[fr.wire:]
		}
	})
}
