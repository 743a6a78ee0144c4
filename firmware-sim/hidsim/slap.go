package hidsim

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"math/rand/v2"
	"sync"
	"time"
)

// Slap scanner report IDs and sizes, docs/hid-slap.md §2-§4 (implemented
// here from the document, not shared with the driver).
const (
	slapReportSize = 64
	slapBlockData  = 54

	outIdentify  = 0x01
	outConfigure = 0x02
	outArm       = 0x03
	outTrigger   = 0x04
	outResend    = 0x05
	outAbort     = 0x06

	inIdentity   = 0x81
	inAck        = 0x82
	inPresence   = 0x83
	inImageBegin = 0x84
	inImageBlock = 0x85
	inImageEnd   = 0x86
	inError      = 0x87

	stOK          = 0
	stBadRequest  = 1
	stBusy        = 2
	stNotArmed    = 3
	stTimeout     = 4
	stNoImage     = 5
	stUnsupported = 6
	stSensor      = 7
)

// Platen geometry reported by Identify: a 3.2 x 3.0 inch platen (the FBI
// EBTS slap size) imaged at up to 1000 ppi, delivered at 500 ppi.
const (
	SlapWidth   = 1600
	SlapHeight  = 1500
	SlapPPI     = 500
	slapMaxPPI  = 1000
	platenW01mm = 813 // 3.2 in in 0.1 mm
	platenH01mm = 762 // 3.0 in
)

// Arm is a host's request to capture one slap.
type Arm struct {
	Capture  uint16
	Kind     uint8 // 1 right four, 2 left four, 3 two thumbs
	Expected uint8 // expected fingers, docs/hid-slap.md §2.3
	Timeout  time.Duration
	Auto     bool // capture as soon as the fingers are still, without a trigger
}

// Faults makes the link lossy, for the driver's retry tests. Probabilities
// apply per image block report of the first transmission of an image
// (resent blocks arrive intact unless OnResend is set).
type Faults struct {
	Drop, Reorder, Corrupt float64
	DropEnd                bool // lose the first ImageEnd report
	OnResend               bool
	Seed                   uint64
}

// SlapStats counts what the scanner did, for tests.
type SlapStats struct {
	Images, BlocksSent, Dropped, Reordered, Corrupted, ResendRequests int
}

// ErrNoFingers from a Source means nobody puts fingers on the platen: the
// arm times out.
var ErrNoFingers = errors.New("hidsim: no fingers placed")

// Slap is the simulated slap scanner's firmware.
type Slap struct {
	Serial string
	// Source renders what is on the platen once armed. Nil renders a good
	// slap of identity 1 (see RenderSlap) for the armed kind.
	Source func(a Arm) (*image.Gray, error)

	mu     sync.Mutex
	faults Faults
	stats  SlapStats
}

// SetFaults changes the link faults from the next image on.
func (s *Slap) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Stats returns the counters so far.
func (s *Slap) Stats() SlapStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Descriptor implements Device.
func (s *Slap) Descriptor() Descriptor {
	return Descriptor{
		ReportSize: slapReportSize, VendorID: VendorID, ProductID: ProductSlap, Release: 0x0100,
		UsagePage: UsagePageVendor, Usage: 0x01,
		Serial: s.Serial, Manufacturer: "OpenEnroll sim", Product: "Slap scanner 4-4-2",
	}
}

type rendered struct {
	img *image.Gray
	err error
	arm Arm
}

// slapSession is one host connection's state.
type slapSession struct {
	s       *Slap
	c       *Conn
	armed   *Arm
	ready   *rendered
	trigger bool
	last    *image.Gray // last image sent, for Resend
	lastCap uint16
	rng     *rand.Rand
	faults  Faults
	timer   *time.Timer
}

// Serve implements Device.
func (s *Slap) Serve(ctx context.Context, c *Conn) {
	in := make(chan []byte, 16)
	go func() {
		defer close(in)
		for {
			r, err := c.Read()
			if err != nil {
				return
			}
			select {
			case in <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	ss := &slapSession{s: s, c: c}
	renders := make(chan rendered, 1)
	for {
		var timeout <-chan time.Time
		if ss.timer != nil {
			timeout = ss.timer.C
		}
		select {
		case <-ctx.Done():
			return
		case r, ok := <-in:
			if !ok {
				return
			}
			if err := ss.command(ctx, r, renders); err != nil {
				return
			}
		case r := <-renders:
			if ss.armed == nil || r.arm.Capture != ss.armed.Capture {
				continue // aborted or timed out meanwhile
			}
			if errors.Is(r.err, ErrNoFingers) {
				continue // the arm timer will fire
			}
			if r.err != nil {
				ss.sendError(0, stSensor, ss.armed.Capture, "render: "+r.err.Error())
				ss.disarm()
				continue
			}
			ss.ready = &r
			if err := ss.presence(); err != nil {
				return
			}
			if ss.armed.Auto || ss.trigger {
				if err := ss.sendImage(); err != nil {
					return
				}
			}
		case <-timeout:
			ss.timer = nil
			if ss.armed != nil {
				if err := ss.sendError(0, stTimeout, ss.armed.Capture, "no fingers placed"); err != nil {
					return
				}
				ss.disarm()
			}
		}
	}
}

func (ss *slapSession) disarm() {
	ss.armed, ss.ready, ss.trigger = nil, nil, false
	if ss.timer != nil {
		ss.timer.Stop()
		ss.timer = nil
	}
}

func (ss *slapSession) ack(tag, cmd, status uint8) error {
	return ss.c.Write([]byte{inAck, tag, cmd, status}, true)
}

func (ss *slapSession) sendError(tag, code uint8, capture uint16, text string) error {
	b := make([]byte, slapReportSize)
	b[0], b[1], b[2] = inError, tag, code
	binary.BigEndian.PutUint16(b[3:], capture)
	copy(b[5:slapReportSize-1], text)
	return ss.c.Write(b, true)
}

func (ss *slapSession) command(ctx context.Context, r []byte, renders chan rendered) error {
	be := binary.BigEndian
	tag := r[1]
	switch r[0] {
	case outIdentify:
		b := make([]byte, slapReportSize)
		b[0], b[1], b[2] = inIdentity, tag, 1
		be.PutUint16(b[3:], slapMaxPPI)
		be.PutUint16(b[5:], SlapPPI)
		be.PutUint16(b[7:], SlapWidth)
		be.PutUint16(b[9:], SlapHeight)
		be.PutUint16(b[11:], platenW01mm)
		be.PutUint16(b[13:], platenH01mm)
		copy(b[15:31], "hidsim-slap 1.0")
		return ss.c.Write(b, true)
	case outConfigure:
		if ppi := be.Uint16(r[2:]); ppi != SlapPPI {
			return ss.ack(tag, r[0], stUnsupported)
		}
		return ss.ack(tag, r[0], stOK)
	case outArm:
		a := Arm{Capture: be.Uint16(r[2:]), Kind: r[4], Expected: r[5],
			Timeout: time.Duration(be.Uint16(r[6:])) * time.Second, Auto: r[8] == 1}
		if a.Kind < 1 || a.Kind > 3 || a.Expected == 0 || a.Expected > 0x0F || (a.Kind == 3 && a.Expected > 3) {
			return ss.ack(tag, r[0], stBadRequest)
		}
		ss.disarm()
		ss.armed = &a
		ss.s.mu.Lock()
		ss.faults = ss.s.faults
		ss.s.mu.Unlock()
		ss.rng = rand.New(rand.NewPCG(ss.faults.Seed, uint64(a.Capture)))
		if a.Timeout > 0 {
			ss.timer = time.NewTimer(a.Timeout)
		}
		if err := ss.ack(tag, r[0], stOK); err != nil {
			return err
		}
		src := ss.s.Source
		go func() {
			var img *image.Gray
			var err error
			if src != nil {
				img, err = src(a)
			} else {
				img, err = defaultSlap(a)
			}
			select {
			case renders <- rendered{img: img, err: err, arm: a}:
			case <-ctx.Done():
			}
		}()
		return nil
	case outTrigger:
		if ss.armed == nil || ss.armed.Capture != be.Uint16(r[2:]) {
			return ss.ack(tag, r[0], stNotArmed)
		}
		if err := ss.ack(tag, r[0], stOK); err != nil {
			return err
		}
		ss.trigger = true
		if ss.ready != nil {
			return ss.sendImage()
		}
		return nil
	case outResend:
		capID, first, count := be.Uint16(r[2:]), be.Uint32(r[4:]), be.Uint16(r[8:])
		if ss.last == nil || capID != ss.lastCap {
			return ss.ack(tag, r[0], stNoImage)
		}
		if err := ss.ack(tag, r[0], stOK); err != nil {
			return err
		}
		ss.s.mu.Lock()
		ss.s.stats.ResendRequests++
		ss.s.mu.Unlock()
		return ss.transmit(ss.last, ss.lastCap, int(first), int(count), ss.faults.OnResend, false)
	case outAbort:
		ss.disarm()
		return ss.ack(tag, r[0], stOK)
	}
	return ss.sendError(tag, stBadRequest, 0, "unknown report")
}

// presence reports the expected fingers landing one by one, then ready.
func (ss *slapSession) presence() error {
	var zones uint8
	for i := range 4 {
		if ss.armed.Expected&(1<<i) == 0 {
			continue
		}
		zones |= 1 << i
		b := []byte{inPresence, 0, 0, zones, 0}
		binary.BigEndian.PutUint16(b[1:], ss.armed.Capture)
		if err := ss.c.Write(b, true); err != nil {
			return err
		}
	}
	b := []byte{inPresence, 0, 0, zones, 1}
	binary.BigEndian.PutUint16(b[1:], ss.armed.Capture)
	return ss.c.Write(b, true)
}

func (ss *slapSession) sendImage() error {
	img, capID := ss.ready.img, ss.armed.Capture
	ss.last, ss.lastCap = img, capID
	ss.disarm()
	ss.s.mu.Lock()
	ss.s.stats.Images++
	ss.s.mu.Unlock()
	return ss.transmit(img, capID, -1, 0, true, ss.faults.DropEnd)
}

func pixels(img *image.Gray) []byte {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if img.Stride == w {
		return img.Pix[:w*h]
	}
	out := make([]byte, 0, w*h)
	for y := range h {
		out = append(out, img.Pix[y*img.Stride:y*img.Stride+w]...)
	}
	return out
}

// transmit sends ImageBegin (when first < 0 or count == 0), blocks
// [first, first+count) (all when first < 0), and ImageEnd.
func (ss *slapSession) transmit(img *image.Gray, capID uint16, first, count int, faulty, dropEnd bool) error {
	be := binary.BigEndian
	pix := pixels(img)
	w, h := img.Rect.Dx(), img.Rect.Dy()
	nblk := (len(pix) + slapBlockData - 1) / slapBlockData
	sum := crc32.ChecksumIEEE(pix)
	if first < 0 || count == 0 {
		b := make([]byte, 17)
		b[0] = inImageBegin
		be.PutUint16(b[1:], capID)
		be.PutUint16(b[3:], uint16(w))
		be.PutUint16(b[5:], uint16(h))
		be.PutUint16(b[7:], SlapPPI)
		be.PutUint32(b[9:], uint32(nblk))
		be.PutUint32(b[13:], sum)
		if err := ss.c.Write(b, first >= 0); err != nil {
			return err
		}
	}
	lo, hi := 0, nblk
	if first >= 0 {
		lo, hi = min(first, nblk), min(first+count, nblk)
	}
	var held []byte // a block held back to be sent after the next (reordering)
	var st SlapStats
	for seq := lo; seq < hi; seq++ {
		b := make([]byte, slapReportSize)
		b[0] = inImageBlock
		be.PutUint16(b[1:], capID)
		be.PutUint32(b[3:], uint32(seq))
		n := copy(b[8:8+slapBlockData], pix[seq*slapBlockData:])
		b[7] = byte(n)
		be.PutUint16(b[62:], crc16(b[:62]))
		st.BlocksSent++
		if faulty && ss.rng != nil {
			f := ss.faults
			switch p := ss.rng.Float64(); {
			case p < f.Drop:
				st.Dropped++
				continue
			case p < f.Drop+f.Corrupt:
				st.Corrupted++
				b[8+ss.rng.IntN(n)] ^= 0x5A
			case p < f.Drop+f.Corrupt+f.Reorder && held == nil:
				st.Reordered++
				held = b
				continue
			}
		}
		if err := ss.c.Write(b, false); err != nil {
			return err
		}
		if held != nil {
			if err := ss.c.Write(held, false); err != nil {
				return err
			}
			held = nil
		}
	}
	if held != nil {
		if err := ss.c.Write(held, false); err != nil {
			return err
		}
	}
	ss.s.mu.Lock()
	ss.s.stats.BlocksSent += st.BlocksSent
	ss.s.stats.Dropped += st.Dropped
	ss.s.stats.Reordered += st.Reordered
	ss.s.stats.Corrupted += st.Corrupted
	ss.s.mu.Unlock()
	if dropEnd {
		return ss.c.Flush() // the ImageEnd report is lost
	}
	b := make([]byte, 11)
	b[0] = inImageEnd
	be.PutUint16(b[1:], capID)
	be.PutUint32(b[3:], uint32(nblk))
	be.PutUint32(b[7:], sum)
	return ss.c.Write(b, true)
}

// crc16 is CRC-16/CCITT-FALSE, docs/hid-slap.md §3.5.
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, v := range b {
		crc ^= uint16(v) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
