package zfm_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/openenroll/stationd/devices/fingerprint"
	"github.com/openenroll/stationd/devices/fingerprint/zfm"
	zfmsim "github.com/openenroll/stationd/firmware-sim/zfm"
)

// go test ./devices/fingerprint/zfm -run Transcript -update re-records the
// transcripts from the simulator.
var update = flag.Bool("update", false, "re-record testdata/zfm transcripts from the simulator")

const transcriptDir = "../../../testdata/zfm"

// Transcript format: one line per direction change or frame, "> HEX" for
// bytes the host sent, "< HEX" for bytes the module sent; '#' comments.

type step struct {
	host bool
	b    []byte
}

// recorder passes a stream through and logs both directions.
type recorder struct {
	rw    io.ReadWriter
	steps []step
	rx    []byte
}

func (r *recorder) flushRx() {
	// Split what the module sent into frames, for readable transcripts.
	b := r.rx
	for len(b) > 0 {
		_, n, err := zfm.ParseFrame(b)
		if n == 0 || (err != nil && !errors.Is(err, zfm.ErrChecksum)) {
			n = len(b)
		}
		r.steps = append(r.steps, step{false, append([]byte(nil), b[:n]...)})
		b = b[n:]
	}
	r.rx = r.rx[:0]
}

func (r *recorder) Write(p []byte) (int, error) {
	r.flushRx()
	r.steps = append(r.steps, step{true, append([]byte(nil), p...)})
	return r.rw.Write(p)
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.rw.Read(p)
	r.rx = append(r.rx, p[:n]...)
	return n, err
}

func (r *recorder) SetReadTimeout(d time.Duration) error {
	return r.rw.(interface{ SetReadTimeout(time.Duration) error }).SetReadTimeout(d)
}

func (r *recorder) ResetInputBuffer() error {
	return r.rw.(interface{ ResetInputBuffer() error }).ResetInputBuffer()
}

func (r *recorder) save(t *testing.T, name, comment string) {
	r.flushRx()
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# zfm transcript: %s\n# %s\n", name, comment)
	fmt.Fprintf(&buf, "# Recorded from firmware-sim/zfm (not real hardware) by TestTranscripts -update.\n")
	for _, s := range r.steps {
		dir := "<"
		if s.host {
			dir = ">"
		}
		fmt.Fprintf(&buf, "%s %X\n", dir, s.b)
	}
	if err := os.WriteFile(filepath.Join(transcriptDir, name+".txt"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// playback replays a transcript: writes must match the host lines exactly,
// reads return the module lines. When the next line is the host's, a read
// waits out its timeout and returns nothing, like a silent module.
type playback struct {
	t       testing.TB
	steps   []step
	pending []byte // rest of the current host step being matched
	timeout time.Duration
}

func loadTranscript(t testing.TB, name string) *playback {
	t.Helper()
	f, err := os.Open(filepath.Join(transcriptDir, name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &playback{t: t}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		dir, h, ok := strings.Cut(s, " ")
		b, err := hex.DecodeString(h)
		if !ok || (dir != ">" && dir != "<") || err != nil {
			t.Fatalf("%s.txt:%d: want \"> HEX\" or \"< HEX\", got %q", name, line, s)
		}
		p.steps = append(p.steps, step{dir == ">", b})
	}
	return p
}

func (p *playback) Write(b []byte) (int, error) {
	for i, c := range b {
		if len(p.pending) == 0 {
			if len(p.steps) == 0 || !p.steps[0].host {
				return i, fmt.Errorf("playback: host wrote % X where the transcript has the module speaking or ends", b[i:])
			}
			p.pending, p.steps = p.steps[0].b, p.steps[1:]
		}
		if p.pending[0] != c {
			return i, fmt.Errorf("playback: host wrote % X, transcript expects % X", b[i:], p.pending)
		}
		p.pending = p.pending[1:]
	}
	return len(b), nil
}

func (p *playback) Read(b []byte) (int, error) {
	if len(p.pending) > 0 || len(p.steps) == 0 || p.steps[0].host {
		if len(p.steps) == 0 && len(p.pending) == 0 {
			return 0, io.EOF
		}
		time.Sleep(p.timeout) // the silent line
		return 0, nil
	}
	n := copy(b, p.steps[0].b)
	if p.steps[0].b = p.steps[0].b[n:]; len(p.steps[0].b) == 0 {
		p.steps = p.steps[1:]
	}
	return n, nil
}

func (p *playback) SetReadTimeout(d time.Duration) error { p.timeout = d; return nil }

func (p *playback) done() error {
	if len(p.pending) > 0 || len(p.steps) > 0 {
		return fmt.Errorf("playback: %d transcript lines not exchanged", len(p.steps))
	}
	return nil
}

// transcriptCase runs one command against a Dev and checks its result.
type transcriptCase struct {
	name, comment string
	setup         func(sim *zfmsim.Sim)
	run           func(ctx context.Context, d *zfm.Dev) error
}

var transcriptFinger = zfmsim.BuiltinFinger(testW, testH, 21)

func transcriptCases() []transcriptCase {
	expect := func(cond bool, format string, args ...any) error {
		if !cond {
			return fmt.Errorf(format, args...)
		}
		return nil
	}
	return []transcriptCase{
		{"vfypwd", "VfyPwd 0x13 with the factory password 0", nil,
			func(ctx context.Context, d *zfm.Dev) error { return d.VerifyPassword(ctx, 0) }},
		{"vfypwd-wrong", "VfyPwd 0x13 with a wrong password: code 0x13", func(s *zfmsim.Sim) {},
			func(ctx context.Context, d *zfm.Dev) error {
				err := d.VerifyPassword(ctx, 0xDEADBEEF)
				var me *zfm.Error
				return expect(errors.As(err, &me) && me.Code == zfm.CodeWrongPassword, "got %v", err)
			}},
		{"readsyspara", "ReadSysPara 0x0F: 115200 baud, 128-byte packets, security 3, library 1000", nil,
			func(ctx context.Context, d *zfm.Dev) error {
				p, err := d.ReadSysParams(ctx)
				want := zfm.SysParams{Status: 4, SystemID: 9, LibrarySize: 1000, SecurityLevel: 3, Address: zfm.DefaultAddress, PacketSize: 128, Baud: 115200}
				return expect(err == nil && p == want, "got %+v, %v", p, err)
			}},
		{"setsyspara", "SetSysPara 0x0E: security level 5, then packet size 64", nil,
			func(ctx context.Context, d *zfm.Dev) error {
				if err := d.SetSysParam(ctx, zfm.ParamSecurity, 5); err != nil {
					return err
				}
				return d.SetSysParam(ctx, zfm.ParamPacketSize, 1)
			}},
		{"setsyspara-badreg", "SetSysPara 0x0E on register 9: code 0x1A", nil,
			func(ctx context.Context, d *zfm.Dev) error {
				err := d.SetSysParam(ctx, 9, 1)
				var me *zfm.Error
				return expect(errors.As(err, &me) && me.Code == zfm.CodeBadRegister, "got %v", err)
			}},
		{"genimg-nofinger", "GenImg 0x01 with the platen empty: code 0x02", nil,
			func(ctx context.Context, d *zfm.Dev) error {
				err := d.GenImg(ctx)
				return expect(errors.Is(err, fingerprint.ErrNoFinger), "got %v", err)
			}},
		{"genimg-finger", "GenImg 0x01 with a finger", func(s *zfmsim.Sim) { s.Place(transcriptFinger) },
			func(ctx context.Context, d *zfm.Dev) error { return d.GenImg(ctx) }},
		{"upimage", "GenImg, then UpImage 0x0A of a 64x80 image in 128-byte packets", func(s *zfmsim.Sim) { s.Place(transcriptFinger) },
			func(ctx context.Context, d *zfm.Dev) error {
				if err := d.GenImg(ctx); err != nil {
					return err
				}
				data, err := d.UpImage(ctx, testW*testH/2)
				if err != nil {
					return err
				}
				got, want := zfm.Unpack4(data, testW, testH), zfmsim.Quantise4(transcriptFinger)
				return expect(bytes.Equal(got.Pix, want.Pix), "uploaded image differs")
			}},
		{"upimage-checksum-retry", "UpImage with a corrupted data packet: the upload is read to its end and repeated",
			func(s *zfmsim.Sim) {
				s.Place(transcriptFinger)
				s.Inject(zfmsim.Fault{Kind: zfmsim.FaultCode, Code: 0}, 1) // GenImg passes
				s.Inject(zfmsim.Fault{Kind: zfmsim.FaultChecksumData}, 1)
			},
			func(ctx context.Context, d *zfm.Dev) error {
				if err := d.GenImg(ctx); err != nil {
					return err
				}
				data, err := d.UpImage(ctx, testW*testH/2)
				return expect(err == nil && len(data) == testW*testH/2, "got %d bytes, %v", len(data), err)
			}},
		{"templatenum", "TemplateNum 0x1D: 42 templates", nil,
			func(ctx context.Context, d *zfm.Dev) error {
				n, err := d.TemplateCount(ctx)
				return expect(err == nil && n == 42, "got %d, %v", n, err)
			}},
		{"auraled", "AuraLedConfig 0x35: breathing blue, speed 100, 3 cycles", nil,
			func(ctx context.Context, d *zfm.Dev) error { return d.AuraLED(ctx, 1, 100, 2, 3) }},
		{"led-onoff", "OpenLED 0x50 then CloseLED 0x51", nil,
			func(ctx context.Context, d *zfm.Dev) error {
				if err := d.LED(ctx, true); err != nil {
					return err
				}
				return d.LED(ctx, false)
			}},
		{"garbage-resync", "TemplateNum answered after line noise with false header starts", func(s *zfmsim.Sim) {
			s.Inject(zfmsim.Fault{Kind: zfmsim.FaultGarbage}, 1)
		}, func(ctx context.Context, d *zfm.Dev) error {
			n, err := d.TemplateCount(ctx)
			return expect(err == nil && n == 42, "got %d, %v", n, err)
		}},
		{"stall-retry", "TemplateNum unanswered once: the driver times out and sends it again", func(s *zfmsim.Sim) {
			s.Inject(zfmsim.Fault{Kind: zfmsim.FaultStall}, 1)
		}, func(ctx context.Context, d *zfm.Dev) error {
			n, err := d.TemplateCount(ctx)
			return expect(err == nil && n == 42, "got %d, %v", n, err)
		}},
	}
}

func devConfig() zfm.Config {
	return zfm.Config{Name: "transcript", Address: zfm.DefaultAddress, CommandTimeout: 100 * time.Millisecond, Retries: 2}
}

func TestTranscripts(t *testing.T) {
	for _, tc := range transcriptCases() {
		t.Run(tc.name, func(t *testing.T) {
			if *update {
				record(t, tc)
			}
			p := loadTranscript(t, tc.name)
			d := zfm.New(p, devConfig())
			if err := tc.run(ctxT(t), d); err != nil {
				t.Fatalf("replaying %s.txt: %v", tc.name, err)
			}
			if err := p.done(); err != nil {
				t.Fatalf("%s.txt: %v", tc.name, err)
			}
		})
	}
}

// TestTranscriptMismatch checks the playback really compares: a command
// the transcript does not contain fails.
func TestTranscriptMismatch(t *testing.T) {
	p := loadTranscript(t, "templatenum")
	d := zfm.New(p, devConfig())
	if err := d.GenImg(ctxT(t)); err == nil {
		t.Fatal("GenImg replayed against the TemplateNum transcript")
	}
}

func record(t *testing.T, tc transcriptCase) {
	sim := startSim(t, zfmsim.Config{NoPacing: true, Templates: 42})
	if tc.setup != nil {
		tc.setup(sim)
	}
	port, err := serial.Open(sim.Path(), &serial.Mode{BaudRate: testBaud})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	rec := &recorder{rw: port}
	d := zfm.New(rec, devConfig())
	if err := tc.run(ctxT(t), d); err != nil {
		t.Fatalf("recording %s: %v", tc.name, err)
	}
	rec.save(t, tc.name, tc.comment)
}
