package tech

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"sort"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/fingerprint"
	"github.com/openenroll/stationd/devices/fingerprint/zfm"
)

// scanner tests a fingerprint scanner. The serial (zfm) modules get the
// full treatment through their protocol engine; other scanners get what
// the fingerprint.Scanner interface allows.
type scanner struct {
	s   *Service
	sc  fingerprint.Scanner
	zfm *zfm.Scanner // nil for other drivers
}

func scannerTester(s *Service, dev devices.Device) tester {
	sc, ok := dev.(fingerprint.Scanner)
	if !ok {
		return nil
	}
	z, _ := dev.(*zfm.Scanner)
	return &scanner{s: s, sc: sc, zfm: z}
}

func (t *scanner) steps(run string) int { return 2 }

func (t *scanner) id() string { return t.sc.Info().ID }

func (t *scanner) selftest(ctx context.Context, p *progress) []Check {
	p.next("handshake: password, system parameters, template library")
	hs := t.handshake(ctx)
	p.next("blank platen: imaging the empty glass (keep fingers off the scanner)")
	if hs.Result == Fail {
		return []Check{hs, {Name: "blank-platen", Result: Skipped, Message: "not run: the handshake failed"}}
	}
	return []Check{hs, t.blankPlaten(ctx)}
}

// handshake repeats what the driver does at open, and checks that the
// module still answers with the parameters the station is configured for.
func (t *scanner) handshake(ctx context.Context) Check {
	c := Check{Name: "handshake"}
	if t.zfm == nil {
		c.Result, c.Message = Skipped, "this scanner's driver offers no handshake to test"
		return c
	}
	o, d := t.zfm.Options(), t.zfm.Dev()
	start := time.Now()
	if err := d.VerifyPassword(ctx, o.Password); err != nil {
		return failCheck(c, err, "check the scanner's cable, and its baud, address and password in the station configuration")
	}
	p, err := d.ReadSysParams(ctx)
	if err != nil {
		return failCheck(c, err, "check the scanner's cable and baud setting")
	}
	rtt := time.Since(start) / 2
	n, err := d.TemplateCount(ctx)
	if err != nil {
		return failCheck(c, err, "the module's memory does not answer: unplug and reconnect it; replace it if this persists")
	}
	c.Values = map[string]any{
		"baud": p.Baud, "packet_size": p.PacketSize, "security_level": p.SecurityLevel,
		"library_size": p.LibrarySize, "templates": n, "system_id": fmt.Sprintf("0x%04X", p.SystemID),
		"address": fmt.Sprintf("%08X", p.Address), "round_trip_ms": float64(rtt.Microseconds()) / 1000,
	}
	switch {
	case p.Address != o.Address:
		c.Result = Fail
		c.Message = fmt.Sprintf("the module reports address %08X but the station is configured for %08X", p.Address, o.Address)
		c.Advice = "set the scanner's address option to match the module"
	case p.Baud != o.Baud:
		c.Result = Warn
		c.Message = fmt.Sprintf("the module reports %d baud in its parameters, the station talks at %d", p.Baud, o.Baud)
		c.Advice = "set the scanner's baud option to the module's speed, or it will not answer after a power cycle"
	default:
		c.Result = Pass
		c.Message = fmt.Sprintf("module answers: %d baud, %d-byte packets, security level %d", p.Baud, p.PacketSize, p.SecurityLevel)
	}
	return c
}

func failCheck(c Check, err error, advice string) Check {
	c.Result, c.Message, c.Advice = Fail, err.Error(), advice
	var me *zfm.Error
	if errors.As(err, &me) {
		if a := me.Code.Advice(); a != "" {
			c.Advice = a
		}
	}
	return c
}

// blankPlaten images the empty glass: the module must answer "no finger".
// If it sees something, the image it took shows what (a finger left on the
// glass, or a print and dirt), and is measured.
func (t *scanner) blankPlaten(ctx context.Context) Check {
	c := Check{Name: "blank-platen"}
	img, err := t.imageEmptyGlass(ctx)
	switch {
	case errors.Is(err, fingerprint.ErrNoFinger):
		c.Result, c.Message = Pass, "the scanner reports the empty glass as empty"
		return c
	case err != nil:
		return failCheck(c, err, "run the self-test again; if it fails again reconnect the scanner")
	}
	m := analyzePlaten(img)
	c.Values = m.values()
	c.Result = Fail
	if m.FingerLike {
		c.Message = "the scanner sees a finger or a fresh print on the empty glass"
		c.Advice = "make sure no finger is on the scanner, then clean the platen and run the self-test again"
	} else {
		c.Message = fmt.Sprintf("the scanner sees something on the empty glass (%.0f%% of the platen soiled)", 100*m.Soiled)
		c.Advice = "clean the platen with a dry lint-free cloth, then calibrate the scanner"
	}
	return c
}

// imageEmptyGlass asks the scanner to image the platen once. It returns
// fingerprint.ErrNoFinger (wrapped) when the scanner finds nothing there.
func (t *scanner) imageEmptyGlass(ctx context.Context) (*image.Gray, error) {
	if t.zfm == nil {
		// A single short capture: with nothing on the glass it must time
		// out with ErrNoFinger.
		img, err := t.sc.Capture(ctx, fingerprint.CaptureOptions{Timeout: time.Second})
		if err != nil {
			return nil, err
		}
		return img.Gray, nil
	}
	d, o := t.zfm.Dev(), t.zfm.Options()
	if err := d.GenImg(ctx); err != nil {
		return nil, err
	}
	data, err := d.UpImage(ctx, o.ImageWidth*o.ImageHeight/2)
	if err != nil {
		return nil, err
	}
	return zfm.Unpack4(data, o.ImageWidth, o.ImageHeight), nil
}

func (t *scanner) calibrate(ctx context.Context, p *progress) []Check {
	p.next("imaging the empty glass (keep fingers off the scanner)")
	img, err := t.imageEmptyGlass(ctx)
	p.next("measuring platen cleanliness and contrast")
	if errors.Is(err, fingerprint.ErrNoFinger) {
		return []Check{
			{Name: "cleanliness", Result: Pass, Message: "the scanner's finger detector finds the glass clear",
				Values: map[string]any{"soiled_fraction": 0.0}},
			{Name: "contrast", Result: Skipped,
				Message: "not measured: the scanner gives no image of a clear, empty glass; contrast is measured when something is on it"},
		}
	}
	if err != nil {
		return []Check{failCheck(Check{Name: "cleanliness"}, err, "check the scanner's connection and calibrate again"),
			{Name: "contrast", Result: Skipped, Message: "not measured: no image"}}
	}
	m := analyzePlaten(img)
	return []Check{m.cleanliness(), m.contrast()}
}

// Platen image thresholds. The sensor images ridges dark on a bright glass;
// these are engineering limits for a 500 ppi optical module with 4-bit
// pixels (16 grey steps of 17 levels), not values from a standard.
const (
	// platenBlock is the block size measured, ≈0.8 mm at 500 ppi: about
	// two ridge periods, so a print's residue makes a block textured.
	platenBlock = 16
	// soiledDrop: a block this much darker than the glass (fraction of the
	// background) holds dirt or residue (about 2.5 grey steps at 230).
	soiledDrop = 0.18
	// soiledTexture: a block whose standard deviation exceeds this (grey
	// levels, just over one 4-bit step) shows ridges or streaks.
	soiledTexture = 20.0
	// soiledPass / soiledWarn bound the soiled fraction of the platen:
	// small specks pass, a smear over a few percent degrades captures.
	soiledPass = 0.02
	soiledWarn = 0.05
	// fingerLike: this much of the platen textured means a finger (or a
	// fresh print) lies on it rather than dirt.
	fingerLike = 0.25
	// backgroundPass / backgroundWarn bound the glass's brightness: ridges
	// image near black, so a background below 160 leaves fewer than ten of
	// the sixteen grey steps between ridge and valley.
	backgroundPass = 160
	backgroundWarn = 120
	// uniformityWarn: a zone of the platen imaging below this fraction of
	// the background means uneven lighting (a weak LED, fogged optics).
	uniformityWarn = 0.7
)

// platenMeasures describes an image of the empty glass.
type platenMeasures struct {
	Background float64 // grey level of the clear glass (90th percentile of block means)
	Uniformity float64 // dimmest zone's typical level / Background
	Soiled     float64 // fraction of blocks dark or textured
	Textured   float64 // fraction of blocks textured
	FingerLike bool
	Blocks     int
}

func (m platenMeasures) values() map[string]any {
	return map[string]any{
		"background_level": round2(m.Background), "uniformity": round2(m.Uniformity),
		"soiled_fraction": round2(m.Soiled), "textured_fraction": round2(m.Textured), "blocks": m.Blocks,
	}
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// platenZones splits the platen into zones × zones regions. Dirt is judged
// against its own zone's typical level, so that light falling off towards
// an edge (judged by uniformity) is not taken for dirt, and a smudge is not
// taken for uneven light.
const platenZones = 3

// analyzePlaten measures an image of the (supposedly) empty platen.
func analyzePlaten(img *image.Gray) platenMeasures {
	b := img.Bounds()
	nbx, nby := b.Dx()/platenBlock, b.Dy()/platenBlock
	type blk struct {
		mean, sd float64
		zone     int
	}
	blocks := make([]blk, 0, nbx*nby)
	zoneMeans := make([][]float64, platenZones*platenZones)
	for by := range nby {
		for bx := range nbx {
			x, y := b.Min.X+bx*platenBlock, b.Min.Y+by*platenBlock
			var sum, sq float64
			for yy := y; yy < y+platenBlock; yy++ {
				row := img.Pix[img.PixOffset(x, yy):]
				for _, v := range row[:platenBlock] {
					f := float64(v)
					sum += f
					sq += f * f
				}
			}
			n := float64(platenBlock * platenBlock)
			mean := sum / n
			z := (by*platenZones/nby)*platenZones + bx*platenZones/nbx
			blocks = append(blocks, blk{mean, math.Sqrt(max(0, sq/n-mean*mean)), z})
			zoneMeans[z] = append(zoneMeans[z], mean)
		}
	}
	m := platenMeasures{Blocks: len(blocks)}
	if len(blocks) == 0 {
		return m
	}
	means := make([]float64, len(blocks))
	for i, bl := range blocks {
		means[i] = bl.mean
	}
	sort.Float64s(means)
	m.Background = means[len(means)*9/10]
	// Each zone's typical level: its median block.
	zoneLevel := make([]float64, len(zoneMeans))
	dimmest := m.Background
	for z, ms := range zoneMeans {
		if len(ms) == 0 {
			continue
		}
		sort.Float64s(ms)
		zoneLevel[z] = ms[len(ms)/2]
		dimmest = min(dimmest, zoneLevel[z])
	}
	soiled, textured := 0, 0
	for _, bl := range blocks {
		t := bl.sd > soiledTexture
		if t {
			textured++
		}
		if t || bl.mean < (1-soiledDrop)*zoneLevel[bl.zone] {
			soiled++
		}
	}
	m.Soiled = float64(soiled) / float64(len(blocks))
	m.Textured = float64(textured) / float64(len(blocks))
	m.FingerLike = m.Textured >= fingerLike
	if m.Background > 0 {
		m.Uniformity = dimmest / m.Background
	}
	return m
}

func (m platenMeasures) cleanliness() Check {
	c := Check{Name: "cleanliness", Values: m.values()}
	score := 1 - m.Soiled
	c.Values["score"] = round2(score)
	switch {
	case m.FingerLike:
		c.Result, c.Message = Fail, "a finger or a fresh print is on the glass"
		c.Advice = "lift any finger off the scanner, clean the platen and calibrate again"
	case m.Soiled <= soiledPass:
		c.Result, c.Message = Pass, fmt.Sprintf("platen clean (score %.2f)", score)
	case m.Soiled <= soiledWarn:
		c.Result, c.Message = Warn, fmt.Sprintf("platen slightly soiled (score %.2f, %.0f%% of the glass)", score, 100*m.Soiled)
		c.Advice = "clean the platen with a dry lint-free cloth"
	default:
		c.Result, c.Message = Fail, fmt.Sprintf("platen dirty (score %.2f, %.0f%% of the glass)", score, 100*m.Soiled)
		c.Advice = "clean the platen with a dry lint-free cloth (a little isopropyl alcohol for residue), then calibrate again"
	}
	return c
}

func (m platenMeasures) contrast() Check {
	c := Check{Name: "contrast", Values: map[string]any{"background_level": round2(m.Background), "uniformity": round2(m.Uniformity)}}
	score := m.Background / 255
	c.Values["score"] = round2(score)
	switch {
	case m.Background < backgroundWarn:
		c.Result = Fail
		c.Message = fmt.Sprintf("the glass images dark (level %.0f of 255): ridges will have little contrast", m.Background)
		c.Advice = "check the scanner's light and that the glass is not fogged or scratched; replace the scanner if it stays dark"
	case m.Background < backgroundPass:
		c.Result = Warn
		c.Message = fmt.Sprintf("the glass images dim (level %.0f of 255)", m.Background)
		c.Advice = "clean the glass and check the scanner's light"
	case m.Uniformity < uniformityWarn:
		c.Result = Warn
		c.Message = fmt.Sprintf("uneven lighting: the dimmest part of the glass is at %.0f%% of the brightest", 100*m.Uniformity)
		c.Advice = "check the scanner's light; fogged optics or a failing LED darken parts of the image"
	default:
		c.Result = Pass
		c.Message = fmt.Sprintf("bright, even glass (level %.0f of 255, uniformity %.2f)", m.Background, m.Uniformity)
	}
	return c
}
