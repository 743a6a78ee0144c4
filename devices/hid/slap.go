package hid

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/openenroll/stationd/devices"
)

// SlapDriverName is the configuration name of the slap scanner driver.
const SlapDriverName = "hid-slap"

func init() {
	devices.Register(devices.Driver{
		Name: SlapDriverName, Kind: devices.KindSlap,
		NewOptions: func() any { o := DefaultSlapOptions(); return &o },
		Open: func(ctx context.Context, cfg devices.Config, rep devices.Reporter) (devices.Device, error) {
			o := DefaultSlapOptions()
			if p, ok := cfg.Options.(*SlapOptions); ok && p != nil {
				o = *p
			}
			return OpenSlap(ctx, cfg, o, rep)
		},
	})
}

// SlapOptions configure the slap scanner driver.
type SlapOptions struct {
	LinkOptions
	// PlaceTimeout is how long the scanner waits for the fingers once
	// armed, unless a request says otherwise.
	PlaceTimeout Duration `toml:"place_timeout"`
	// BlockTimeout: an image transfer that goes this long without a report
	// is taken as ended and its missing blocks are asked for again.
	BlockTimeout Duration `toml:"block_timeout"`
	// MaxRetries bounds the resend rounds of one image transfer.
	MaxRetries int `toml:"max_retries"`
}

// DefaultSlapOptions are the slap driver's defaults.
func DefaultSlapOptions() SlapOptions {
	return SlapOptions{
		LinkOptions: LinkOptions{
			Transport: "usb", VendorID: SimVendorID, ProductID: SimProductSlap,
			CommandTimeout: Duration{Duration: 2 * time.Second},
		},
		PlaceTimeout: Duration{Duration: 30 * time.Second},
		BlockTimeout: Duration{Duration: time.Second},
		MaxRetries:   4,
	}
}

// SlapKind is which slap is asked for.
type SlapKind uint8

// Slap kinds (docs/hid-slap.md §2.3).
const (
	RightFour SlapKind = SlapRightFour
	LeftFour  SlapKind = SlapLeftFour
	TwoThumbs SlapKind = SlapTwoThumbs
)

func (k SlapKind) String() string {
	switch k {
	case RightFour:
		return "right four"
	case LeftFour:
		return "left four"
	case TwoThumbs:
		return "two thumbs"
	}
	return fmt.Sprintf("slap kind %d", uint8(k))
}

// Finger bits of SlapRequest.Expected (docs/hid-slap.md §2.3).
const (
	FingerIndex  = 1 << 0
	FingerMiddle = 1 << 1
	FingerRing   = 1 << 2
	FingerLittle = 1 << 3
	ThumbRight   = 1 << 0
	ThumbLeft    = 1 << 1
)

// Presence is a finger-presence event of an armed scanner.
type Presence struct {
	Zones uint8 // bit i: a finger on zone i, left to right
	Ready bool  // the expected fingers are placed and still
}

// SlapRequest asks for one slap.
type SlapRequest struct {
	Kind SlapKind
	// Expected fingers (Finger* or Thumb* bits); 0 means all of the kind.
	Expected uint8
	// Timeout for the fingers to be placed; 0 takes PlaceTimeout.
	Timeout time.Duration
	// Manual waits for Trigger (the foot pedal) instead of capturing as
	// soon as the fingers are still.
	Manual bool
	// OnPresence, when set, is called from the capture for each presence
	// event.
	OnPresence func(Presence)
}

// TransferStats tell how an image transfer went.
type TransferStats struct {
	Blocks     int // image blocks in the image
	Received   int // block reports received, resends included
	OutOfOrder int // blocks that arrived after a later one
	Bad        int // blocks with a bad CRC-16
	Duplicates int
	Rounds     int // resend rounds needed
}

// SlapImage is one captured slap.
type SlapImage struct {
	Gray     *image.Gray
	PPI      int
	Kind     SlapKind
	Expected uint8
	Captured time.Time
	Device   string
	Stats    TransferStats
}

// SlapIdentity is what the scanner says of itself.
type SlapIdentity struct {
	MaxPPI, PPI          int
	Width, Height        int // delivered image size in pixels
	PlatenWmm, PlatenHmm float64
	Firmware             string
}

// Slap is an open slap scanner.
type Slap struct {
	l    *link
	opts SlapOptions
	log  *slog.Logger
	id   SlapIdentity

	acks tagWaiter[SlapReport]
	wmu  sync.Mutex // one output report at a time

	capMu   sync.Mutex // one capture at a time
	capID   uint16
	active  chan SlapReport // reports of the capture in progress (nil when none)
	actDone chan struct{}   // closed when that capture ends
	activeM sync.Mutex
}

// OpenSlap finds and opens the slap scanner, identifies and configures it.
// It fails fast when the scanner is not plugged in.
func OpenSlap(ctx context.Context, cfg devices.Config, o SlapOptions, rep devices.Reporter) (*Slap, error) {
	t, err := o.transport(cfg)
	if err != nil {
		return nil, err
	}
	l, err := openLink(ctx, t, Filter{VendorID: o.VendorID, ProductID: o.ProductID, Serial: o.Serial}, cfg, "slap scanner", rep)
	if err != nil {
		return nil, err
	}
	s := &Slap{l: l, opts: o, log: slog.Default().With("device", cfg.ID)}
	go l.run(SlapReportSize, s.handle)
	r, err := s.request(ctx, slapOut(RepIdentify, 0), RepIdentity)
	if err != nil {
		l.close()
		return nil, err
	}
	s.id = SlapIdentity{
		MaxPPI: int(r.MaxPPI), PPI: int(r.PPI), Width: int(r.Width), Height: int(r.Height),
		PlatenWmm: float64(r.PlatenW) / 10, PlatenHmm: float64(r.PlatenH) / 10, Firmware: r.Firmware,
	}
	// 500 ppi delivery (ANSI/NIST-ITL 1-2011 Type 14 plain slaps at 500 ppi)
	if _, err := s.request(ctx, slapOut(RepConfigure, 0, uint16(500), uint8(1)), RepAck); err != nil {
		l.close()
		return nil, err
	}
	return s, nil
}

// Identity returns what the scanner reported when opened.
func (s *Slap) Identity() SlapIdentity { return s.id }

// Info implements devices.Device.
func (s *Slap) Info() devices.Info {
	in := s.l.deviceInfo(devices.KindSlap, SlapDriverName)
	in.Firmware = s.id.Firmware
	return in
}

// Close implements devices.Device.
func (s *Slap) Close() error { return s.l.close() }

// handle runs on the reader goroutine.
func (s *Slap) handle(b []byte) {
	r, err := DecodeSlapReport(b)
	if err != nil && r.ID != RepImageBlock {
		s.log.Warn("slap scanner: bad report", "err", err)
		return
	}
	if err != nil { // a damaged block (its capture ID is still read): counted, asked again
		r = SlapReport{ID: RepImageBlock, Capture: r.Capture, Status: StatusBadRequest}
	}
	switch r.ID {
	case RepIdentity, RepAck:
		s.acks.deliver(r.Tag, r)
		return
	case RepError:
		if r.Tag != 0 && s.acks.deliver(r.Tag, r) {
			return
		}
	}
	if r.Data != nil {
		r.Data = append([]byte(nil), r.Data...) // b is reused
	}
	s.activeM.Lock()
	ch, done, id := s.active, s.actDone, s.capID
	s.activeM.Unlock()
	if ch == nil || r.Capture != id {
		return // nobody is capturing, or a stale report of an earlier capture
	}
	select {
	case ch <- r:
	case <-done: // the capture ended meanwhile: drop it
	case <-s.l.ctx.Done():
	}
}

func (s *Slap) errorf(format string, a ...any) error {
	return fmt.Errorf("slap scanner %q: "+format, append([]any{s.l.id}, a...)...)
}

// request sends a command and waits for its answer (want: RepAck or
// RepIdentity). A non-OK status is an error.
func (s *Slap) request(ctx context.Context, out []byte, want uint8) (SlapReport, error) {
	tag, ch := s.acks.add()
	defer s.acks.remove(tag)
	out[1] = tag
	ctx, cancel := context.WithTimeout(ctx, s.opts.CommandTimeout.Duration)
	defer cancel()
	s.wmu.Lock()
	err := s.l.conn.WriteReport(ctx, out)
	s.wmu.Unlock()
	if err != nil {
		return SlapReport{}, s.errorf("sending command %#02x: %w", out[0], err)
	}
	select {
	case r := <-ch:
		if r.ID == RepError {
			return r, s.errorf("command %#02x: %s (%s)", out[0], SlapStatusText(r.Status), r.Text)
		}
		if r.ID != want {
			return r, s.errorf("command %#02x answered with report %#02x", out[0], r.ID)
		}
		if r.ID == RepAck && r.Status != StatusOK {
			return r, s.errorf("command %#02x refused: %s", out[0], SlapStatusText(r.Status))
		}
		return r, nil
	case <-s.l.gone:
		return SlapReport{}, s.errorf("%w; plug it back in", ErrGone)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return SlapReport{}, s.errorf("no answer to command %#02x within %v; check the cable or replug the scanner", out[0], s.opts.CommandTimeout.Duration)
		}
		return SlapReport{}, ctx.Err()
	}
}

// Trigger captures now on a scanner armed with Manual (the pedal).
func (s *Slap) Trigger(ctx context.Context) error {
	s.activeM.Lock()
	armed, id := s.active != nil, s.capID
	s.activeM.Unlock()
	if !armed {
		return s.errorf("trigger: no capture armed")
	}
	_, err := s.request(ctx, slapOut(RepTrigger, 0, id), RepAck)
	return err
}

// Capture arms the scanner for one slap and returns the image. Cancelling
// ctx aborts the capture on the scanner.
func (s *Slap) Capture(ctx context.Context, req SlapRequest) (*SlapImage, error) {
	if req.Kind < RightFour || req.Kind > TwoThumbs {
		return nil, s.errorf("capture: %v: use right four, left four or two thumbs", req.Kind)
	}
	all := uint8(0x0F)
	if req.Kind == TwoThumbs {
		all = 0x03
	}
	if req.Expected == 0 {
		req.Expected = all
	}
	if req.Expected&^all != 0 {
		return nil, s.errorf("capture: expected fingers %#02x not in a %v slap", req.Expected, req.Kind)
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = s.opts.PlaceTimeout.Duration
	}
	secs := min(max(int((timeout+time.Second-1)/time.Second), 1), 0xFFFF)

	s.capMu.Lock()
	defer s.capMu.Unlock()
	s.l.rep.SetState(devices.StateBusy, "capturing "+req.Kind.String())
	defer func() {
		select {
		case <-s.l.gone:
		default:
			s.l.rep.SetState(devices.StateReady, "")
		}
	}()
	ch := make(chan SlapReport, 1024)
	done := make(chan struct{})
	s.activeM.Lock()
	s.capID++
	id := s.capID
	s.active, s.actDone = ch, done
	s.activeM.Unlock()
	var endOnce sync.Once
	end := func() {
		endOnce.Do(func() {
			s.activeM.Lock()
			s.active, s.actDone = nil, nil
			s.activeM.Unlock()
			close(done)
		})
	}
	defer end()
	auto := uint8(1)
	if req.Manual {
		auto = 0
	}
	if _, err := s.request(ctx, slapOut(RepArm, 0, id, uint8(req.Kind), req.Expected, uint16(secs), auto), RepAck); err != nil {
		return nil, err
	}
	img, st, err := s.receive(ctx, ch, id, timeout, req.OnPresence)
	if err != nil {
		end() // the reader must not wait on this capture while the abort is answered
		if ctx.Err() != nil {
			// tell the scanner to stop; the caller's context is over
			actx, cancel := context.WithTimeout(context.Background(), s.opts.CommandTimeout.Duration)
			s.request(actx, slapOut(RepAbort, 0), RepAck)
			cancel()
		}
		return nil, err
	}
	return &SlapImage{Gray: img, PPI: s.id.PPI, Kind: req.Kind, Expected: req.Expected,
		Captured: time.Now(), Device: s.l.id, Stats: st}, nil
}

// transfer collects one image's blocks.
type transfer struct {
	begun     bool
	w, h, ppi int
	blocks    int
	crc       uint32
	pix       []byte
	have      []bool
	missing   int
	highest   int
}

func (t *transfer) start(r SlapReport) {
	if t.begun {
		return // a resent header
	}
	t.begun = true
	t.w, t.h, t.ppi, t.blocks, t.crc = int(r.Width), int(r.Height), int(r.PPI), int(r.Blocks), r.CRC
	t.pix = make([]byte, t.w*t.h)
	t.have = make([]bool, t.blocks)
	t.missing = t.blocks
	t.highest = -1
}

// receive waits for the fingers, then the image, asking again for what
// was lost, damaged or never ended.
func (s *Slap) receive(ctx context.Context, ch chan SlapReport, id uint16, placeTimeout time.Duration, onPresence func(Presence)) (*image.Gray, TransferStats, error) {
	var st TransferStats
	var t transfer
	// pending blocks seen before the header (its report was lost)
	var early []SlapReport
	// before the image begins, the wait is for the applicant (plus the
	// scanner's own timeout report); after, for the link.
	wait := placeTimeout + s.opts.CommandTimeout.Duration
	timer := time.NewTimer(wait)
	defer timer.Stop()
	rounds, stalled := 0, 0
	lastMissing := math.MaxInt
	ended := false
	ends := 1 // ImageEnd reports to wait for: one per (re)send request
	for {
		if ended {
			ended = false
			if t.begun && t.missing == 0 {
				img := image.NewGray(image.Rect(0, 0, t.w, t.h))
				copy(img.Pix, t.pix)
				if crc32.ChecksumIEEE(t.pix) == t.crc {
					st.Blocks, st.Rounds = t.blocks, rounds
					return img, st, nil
				}
				// every block passed its CRC-16 but the image does not:
				// take it all again
				for i := range t.have {
					t.have[i] = false
				}
				t.missing = t.blocks
			}
			// a round that brought blocks is progress on a slow link; only
			// rounds without any count against MaxRetries
			if t.begun && t.missing < lastMissing {
				stalled = 0
			} else {
				stalled++
			}
			lastMissing = t.missing
			if stalled > s.opts.MaxRetries || rounds >= maxRounds {
				return nil, st, s.errorf("image transfer failed after %d resend rounds (%d of %d blocks missing); check the USB cable and try again", rounds, t.missing, t.blocks)
			}
			rounds++
			n, err := s.askAgain(ctx, id, &t)
			if err != nil {
				return nil, st, err
			}
			ends = n
			timer.Reset(s.opts.BlockTimeout.Duration)
		}
		select {
		case <-ctx.Done():
			return nil, st, ctx.Err()
		case <-s.l.gone:
			return nil, st, s.errorf("%w during the capture; plug it back in and capture again", ErrGone)
		case <-timer.C:
			if !t.begun && len(early) == 0 && rounds == 0 {
				return nil, st, s.errorf("no fingers placed within %v; ask the applicant to place the fingers flat and try again", placeTimeout)
			}
			ended = true // the end report was lost or blocks stopped coming
			continue
		case r := <-ch:
			if r.Capture != id {
				continue
			}
			switch r.ID {
			case RepPresence:
				if onPresence != nil {
					onPresence(Presence{Zones: r.Zones, Ready: r.Ready == 1})
				}
			case RepError:
				return nil, st, s.errorf("capture: %s (%s)", SlapStatusText(r.Status), r.Text)
			case RepImageBegin:
				t.start(r)
				for _, e := range early {
					s.place(&t, e, &st)
				}
				early = nil
				resetTimer(timer, s.opts.BlockTimeout.Duration)
			case RepImageBlock:
				if r.Status == StatusBadRequest { // failed its CRC-16
					st.Bad++
					st.Received++
					continue
				}
				st.Received++
				if !t.begun {
					if len(early) < 1<<16 {
						early = append(early, r)
					}
				} else {
					s.place(&t, r, &st)
				}
				resetTimer(timer, s.opts.BlockTimeout.Duration)
			case RepImageEnd:
				if t.begun && (int(r.Blocks) != t.blocks || r.CRC != t.crc) {
					return nil, st, s.errorf("image end (%d blocks, crc %08x) disagrees with its begin (%d, %08x); the scanner's firmware is at fault", r.Blocks, r.CRC, t.blocks, t.crc)
				}
				if ends--; ends <= 0 {
					ended = true
				}
			}
		}
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	t.Reset(d)
}

func (s *Slap) place(t *transfer, r SlapReport, st *TransferStats) {
	seq := int(r.Seq)
	if seq >= t.blocks {
		st.Bad++
		return
	}
	if t.have[seq] {
		st.Duplicates++
		return
	}
	off := seq * SlapBlockData
	want := min(SlapBlockData, len(t.pix)-off)
	if len(r.Data) != want {
		st.Bad++
		return
	}
	copy(t.pix[off:], r.Data)
	t.have[seq] = true
	t.missing--
	if seq < t.highest {
		st.OutOfOrder++
	} else {
		t.highest = seq
	}
}

// maxRounds bounds the resend rounds of one image even when each brings
// some blocks.
const maxRounds = 64

// maxResendRuns bounds the resend requests of one round: the scanner
// answers each with its blocks before reading the next, so a long queue of
// requests would stall the link.
const maxResendRuns = 16

// askAgain requests the header (when it never came) and every run of
// missing blocks (docs/hid-slap.md §2.5), returning how many requests it
// sent. It does not wait for their acknowledgements: the blocks they bring
// must be drained by the caller while later requests go out.
func (s *Slap) askAgain(ctx context.Context, id uint16, t *transfer) (int, error) {
	send := func(first uint32, count uint16) error {
		out := slapOut(RepResend, 0, id, first, count)
		ctx, cancel := context.WithTimeout(ctx, s.opts.CommandTimeout.Duration)
		defer cancel()
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if err := s.l.conn.WriteReport(ctx, out); err != nil {
			return s.errorf("asking for lost image blocks: %w", err)
		}
		return nil
	}
	if !t.begun {
		return 1, send(0, 0)
	}
	// the runs of missing blocks; many runs (a very lossy link) become one
	// request spanning them all, so a round is a handful of reports
	type run struct{ first, count int }
	var runs []run
	for i := 0; i < t.blocks; {
		if t.have[i] {
			i++
			continue
		}
		j := i
		for j < t.blocks && !t.have[j] && j-i < 0xFFFF {
			j++
		}
		runs = append(runs, run{i, j - i})
		i = j
	}
	// merge across the smallest gaps until few runs remain: the merged
	// runs bring some blocks twice, which the transfer ignores
	for len(runs) > maxResendRuns {
		best := 1
		for i := 2; i < len(runs); i++ {
			if runs[i].first-(runs[i-1].first+runs[i-1].count) < runs[best].first-(runs[best-1].first+runs[best-1].count) {
				best = i
			}
		}
		a, b := runs[best-1], runs[best]
		if b.first+b.count-a.first > 0xFFFF {
			break // a request covers at most 65535 blocks
		}
		runs[best-1] = run{a.first, b.first + b.count - a.first}
		runs = append(runs[:best], runs[best+1:]...)
	}
	n := 0
	for _, r := range runs {
		if err := send(uint32(r.first), uint16(r.count)); err != nil {
			return n, err
		}
		n++
	}
	return max(n, 1), nil
}
