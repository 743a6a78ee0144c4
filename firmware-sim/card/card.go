// Package card is a simulated eMRTD chip (ICAO 9303 parts 10 and 11) that
// plugs into the real PC/SC stack through vsmartcard's vpcd driver: pcscd
// sees a card in its "Virtual PCD" reader, and every APDU a PC/SC client
// sends reaches this code.
//
// The applet follows the JMRTD passport applet's command set for
// personalization (CREATE FILE, SELECT, UPDATE BINARY, PUT DATA for the
// access keys and the active-authentication key, PUT DATA DE AD to lock)
// and the ICAO protocols once locked: SELECT of the eMRTD application, BAC
// and PACE (generic mapping, ECDH on P-256 or brainpoolP256r1, AES-128),
// secure messaging with file access conditions, and active authentication
// (ECDSA P-256). Faults can be injected: a wrong response MAC, the card
// pulled after N APDUs, a slow card.
//
// It is written from the specifications and must never import the
// station's drivers (devices/...), so that protocol bugs on either side
// show up as failures rather than cancelling out.
package card

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// Status words the applet answers (ISO 7816-4 §5.6).
const (
	swOK            = 0x9000
	swEOF           = 0x6282
	swWrongLength   = 0x6700
	swSecurity      = 0x6982
	swConditions    = 0x6985
	swSMMissing     = 0x6987
	swSMIncorrect   = 0x6988
	swWrongData     = 0x6A80
	swFileNotFound  = 0x6A82
	swNoSpace       = 0x6A84
	swRefNotFound   = 0x6A88
	swWrongP1P2     = 0x6B00
	swINSNotSupport = 0x6D00
	swCLANotSupport = 0x6E00
	swAuthFailed    = 0x6300
)

// Life-cycle tags of PUT DATA (JMRTD passport applet).
const (
	tagAAPrivEC  = 0x63 // this simulator: 63 { 04 scalar } on P-256
	tagMRZ       = 0x62 // 62 { 04 docno, 04 birth, 04 expiry }
	tagPACECAN   = 0x65 // this simulator: 65 { 04 CAN digits }
	fidCardAcc   = 0x011C
	maxFileBytes = 0x7FFF // READ BINARY's 15-bit offsets
)

// eMRTD application identifier (ICAO 9303 p10 §3.10.2).
var aid = []byte{0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01}

// ATR announces T=1 (3B 80 80 01 01: TS, T0 with TD1, TD1 → TD2, TD2 =
// T=1, TCK). pcscd only needs a well-formed ATR.
var ATR = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}

// Profile is what a personalized card holds.
type Profile struct {
	Files map[uint16][]byte // by file identifier (011E, 011D, 0101...)
	// MRZ access key: document number, birth and expiry dates (YYMMDD).
	DocumentNumber, BirthDate, ExpiryDate string
	CAN                                   string // empty: no PACE with CAN
	AAKey                                 *ecdsa.PrivateKey
	Locked                                bool
}

// Faults are injected misbehaviours. Zero value: a well-behaved card.
type Faults struct {
	// BadMACAfter makes the response MAC wrong on the Nth secure-messaging
	// response from now (1 = next); 0 disables.
	BadMACAfter int
	// PullAfter removes the card (closes the vpcd link without answering)
	// when the Nth APDU from now arrives; 0 disables.
	PullAfter int
	// Delay is added before each answer (a slow card).
	Delay time.Duration
	// RejectPACE makes MSE:Set AT fail with 6A80 although EF.CardAccess
	// announces PACE (a chip whose PACE is broken; readers fall back to BAC).
	RejectPACE bool
}

type efile struct {
	data []byte // capacity = declared size
}

// Card is one simulated chip.
type Card struct {
	mu     sync.Mutex
	files  map[uint16]*efile
	doc    string
	birth  string
	expiry string
	can    string
	aa     *ecdsa.PrivateKey
	locked bool

	// volatile state, cleared on reset
	appSelected bool
	selected    uint16
	challenge   []byte
	sm          *session
	pace        *paceState

	faults Faults
	apdus  uint64

	link linkState
}

// New returns a blank card: no files, no keys, unlocked, ready to be
// personalized.
func New() *Card {
	return &Card{files: map[uint16]*efile{}}
}

// NewPersonalized returns a card holding p.
func NewPersonalized(p Profile) *Card {
	c := New()
	for fid, b := range p.Files {
		c.files[fid] = &efile{data: append([]byte{}, b...)}
	}
	c.doc, c.birth, c.expiry, c.can = p.DocumentNumber, p.BirthDate, p.ExpiryDate, p.CAN
	c.aa, c.locked = p.AAKey, p.Locked
	return c
}

// SetFaults replaces the injected faults.
func (c *Card) SetFaults(f Faults) {
	c.mu.Lock()
	c.faults = f
	c.mu.Unlock()
}

// File returns a copy of a file's content (for tests: tampering, checks).
func (c *Card) File(fid uint16) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.files[fid]
	if !ok {
		return nil, false
	}
	return append([]byte{}, f.data...), true
}

// SetFile replaces a file's content (tests use it to tamper with a DG).
func (c *Card) SetFile(fid uint16, b []byte) {
	c.mu.Lock()
	c.files[fid] = &efile{data: append([]byte{}, b...)}
	c.mu.Unlock()
}

// Locked reports whether personalization has been closed.
func (c *Card) Locked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.locked
}

// APDUs returns how many APDUs the card has processed.
func (c *Card) APDUs() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apdus
}

// reset is a warm or cold reset: volatile state is lost.
func (c *Card) reset() {
	c.appSelected, c.selected, c.challenge, c.sm, c.pace = false, 0, nil, nil, nil
}

// rawCmd is a command APDU as received.
type rawCmd struct {
	cla, ins, p1, p2 byte
	data             []byte
	ne               int
	ext              bool
}

// parseCmd decodes the four ISO 7816-4 cases, short and extended.
func parseCmd(b []byte) (rawCmd, bool) {
	if len(b) < 4 {
		return rawCmd{}, false
	}
	c := rawCmd{cla: b[0], ins: b[1], p1: b[2], p2: b[3]}
	r := b[4:]
	switch {
	case len(r) == 0:
	case len(r) == 1:
		c.ne = int(r[0])
		if c.ne == 0 {
			c.ne = 256
		}
	case r[0] != 0:
		n := int(r[0])
		if len(r) != 1+n && len(r) != 2+n {
			return rawCmd{}, false
		}
		c.data = r[1 : 1+n]
		if len(r) == 2+n {
			c.ne = int(r[1+n])
			if c.ne == 0 {
				c.ne = 256
			}
		}
	case len(r) == 3:
		c.ext = true
		c.ne = int(r[1])<<8 | int(r[2])
		if c.ne == 0 {
			c.ne = 65536
		}
	default:
		c.ext = true
		if len(r) < 3 {
			return rawCmd{}, false
		}
		n := int(r[1])<<8 | int(r[2])
		if n == 0 || (len(r) != 3+n && len(r) != 5+n) {
			return rawCmd{}, false
		}
		c.data = r[3 : 3+n]
		if len(r) == 5+n {
			c.ne = int(r[3+n])<<8 | int(r[4+n])
			if c.ne == 0 {
				c.ne = 65536
			}
		}
	}
	return c, true
}

func sw(code uint16) []byte { return []byte{byte(code >> 8), byte(code)} }

// Process runs one command APDU and returns the response APDU.
func (c *Card) Process(apdu []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.apdus++
	raw, ok := parseCmd(apdu)
	if !ok {
		return sw(swWrongLength)
	}
	if raw.cla&0x0C == 0x0C {
		if c.sm == nil {
			return sw(swSMMissing)
		}
		p, err := c.sm.unwrap(raw)
		if err != nil {
			// p11 §9.8.6.1: on an SM error the chip aborts the session.
			c.sm = nil
			return sw(swSMIncorrect)
		}
		data, code := c.dispatch(p, true)
		if c.sm == nil { // the command itself ended the session
			return append(data, sw(code)...)
		}
		bad := false
		if c.faults.BadMACAfter > 0 {
			c.faults.BadMACAfter--
			bad = c.faults.BadMACAfter == 0
		}
		return c.sm.wrap(data, code, bad)
	}
	// A plain command ends any session (p11 §9.8.6.1).
	c.sm = nil
	data, code := c.dispatch(plainCmd{cla: raw.cla, ins: raw.ins, p1: raw.p1, p2: raw.p2, data: raw.data, ne: raw.ne}, false)
	return append(data, sw(code)...)
}

func (c *Card) dispatch(p plainCmd, protected bool) ([]byte, uint16) {
	if p.cla&^0x10 != 0 {
		return nil, swCLANotSupport
	}
	switch p.ins {
	case 0xA4:
		return nil, c.selectCmd(p, protected)
	case 0xB0:
		return c.readBinary(p, protected)
	case 0x84:
		return c.getChallenge(p)
	case 0x82:
		return c.mutualAuth(p)
	case 0x22:
		return nil, c.mseSetAT(p)
	case 0x86:
		return c.generalAuth(p)
	case 0x88:
		return c.internalAuth(p, protected)
	case 0xE0:
		return nil, c.createFile(p)
	case 0xD6:
		return nil, c.updateBinary(p)
	case 0xDA:
		return nil, c.putData(p)
	}
	return nil, swINSNotSupport
}

func (c *Card) visible(fid uint16) bool {
	if fid == fidCardAcc {
		return true // EF.CardAccess lives in the MF
	}
	return c.appSelected || !c.locked
}

func (c *Card) selectCmd(p plainCmd, protected bool) uint16 {
	switch p.p1 {
	case 0x04: // by AID
		if string(p.data) != string(aid) {
			return swFileNotFound
		}
		c.appSelected, c.selected = true, 0
		return swOK
	case 0x00: // MF
		c.appSelected, c.selected = false, 0
		return swOK
	case 0x02, 0x01:
		if len(p.data) != 2 {
			return swWrongLength
		}
		fid := uint16(p.data[0])<<8 | uint16(p.data[1])
		if _, ok := c.files[fid]; !ok || !c.visible(fid) {
			return swFileNotFound
		}
		if c.locked && !protected && fid != fidCardAcc {
			return swSecurity
		}
		c.selected = fid
		return swOK
	}
	return swWrongP1P2
}

func (c *Card) readBinary(p plainCmd, protected bool) ([]byte, uint16) {
	fid, off := c.selected, int(p.p1)<<8|int(p.p2)
	if p.p1&0x80 != 0 { // short EF identifier in P1, offset in P2 (ISO 7816-4 §7.2.2)
		sfi := uint16(p.p1 & 0x1F)
		fid, off = 0x0100|sfi, int(p.p2)
		if sfi == 0x1C {
			fid = fidCardAcc
		}
		if _, ok := c.files[fid]; !ok || !c.visible(fid) {
			return nil, swFileNotFound
		}
		c.selected = fid
	}
	f, ok := c.files[fid]
	if fid == 0 || !ok {
		return nil, swConditions
	}
	if c.locked && !protected && fid != fidCardAcc {
		return nil, swSecurity
	}
	if !c.locked && !protected && fid != fidCardAcc {
		return nil, swSecurity // JMRTD applet: reading needs access control
	}
	if off > len(f.data) {
		return nil, swWrongP1P2
	}
	n := min(p.ne, len(f.data)-off)
	out := append([]byte{}, f.data[off:off+n]...)
	if n < p.ne && p.ne != 256 && p.ne != 65536 {
		return out, swEOF
	}
	return out, swOK
}

func (c *Card) getChallenge(p plainCmd) ([]byte, uint16) {
	if p.ne != 8 {
		return nil, swWrongLength
	}
	if c.doc == "" {
		return nil, swConditions
	}
	c.sm = nil
	c.challenge = make([]byte, 8)
	rand.Read(c.challenge)
	return c.challenge, swOK
}

// mutualAuth is the card's half of BAC (ICAO 9303 p11 §4.3.4.2).
func (c *Card) mutualAuth(p plainCmd) ([]byte, uint16) {
	ch := c.challenge
	c.challenge = nil
	if ch == nil || c.doc == "" {
		return nil, swConditions
	}
	if len(p.data) != 40 {
		return nil, swWrongLength
	}
	h := sha1Sum(mrzInfo(c.doc, c.birth, c.expiry))
	seed := h[:16]
	kEnc, kMAC := kdf(seed, 1), kdf(seed, 2)
	eIFD, mIFD := p.data[:32], p.data[32:]
	if string(mac3(kMAC, padISO(eIFD, 8))) != string(mIFD) {
		return nil, swSecurity
	}
	s := make([]byte, 32)
	cbcDec(desEDE(kEnc), eIFD, s)
	rndIFD, rndIC, kIFD := s[:8], s[8:16], s[16:32]
	if string(rndIC) != string(ch) {
		return nil, swSecurity
	}
	kIC := make([]byte, 16)
	rand.Read(kIC)
	r := append(append(append([]byte{}, rndIC...), rndIFD...), kIC...)
	eIC := make([]byte, 32)
	cbcEnc(desEDE(kEnc), r, eIC)
	out := append(eIC, mac3(kMAC, padISO(eIC, 8))...)
	ks := make([]byte, 16)
	for i := range ks {
		ks[i] = kIFD[i] ^ kIC[i]
	}
	ssc := append(append([]byte{}, rndIC[4:]...), rndIFD[4:]...)
	c.sm = newSession(smDES, kdf(ks, 1), kdf(ks, 2), ssc)
	return out, swOK
}

// internalAuth is active authentication (ICAO 9303 p11 §6.1) with an
// ECDSA key: the signature over SHA-256 of the 8-byte challenge, plain r||s
// (BSI TR-03111 §5.2.1).
func (c *Card) internalAuth(p plainCmd, protected bool) ([]byte, uint16) {
	if c.aa == nil {
		return nil, swINSNotSupport
	}
	if c.locked && !protected {
		return nil, swSecurity
	}
	if len(p.data) != 8 {
		return nil, swWrongLength
	}
	d := sha256.Sum256(p.data)
	r, s, err := ecdsa.Sign(rand.Reader, c.aa, d[:])
	if err != nil {
		return nil, 0x6F00
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, swOK
}

// createFile is the JMRTD applet's CREATE FILE: data 63 04 size(2) fid(2).
func (c *Card) createFile(p plainCmd) uint16 {
	if c.locked {
		return swConditions
	}
	if len(p.data) != 6 || p.data[0] != 0x63 || p.data[1] != 4 {
		return swWrongData
	}
	size := int(p.data[2])<<8 | int(p.data[3])
	fid := uint16(p.data[4])<<8 | uint16(p.data[5])
	if size > maxFileBytes {
		return swNoSpace
	}
	c.files[fid] = &efile{data: make([]byte, size)}
	return swOK
}

func (c *Card) updateBinary(p plainCmd) uint16 {
	if c.locked {
		return swConditions
	}
	f, ok := c.files[c.selected]
	if c.selected == 0 || !ok {
		return swConditions
	}
	off := int(p.p1&0x7F)<<8 | int(p.p2)
	if off+len(p.data) > len(f.data) {
		return swNoSpace
	}
	copy(f.data[off:], p.data)
	return swOK
}

func (c *Card) putData(p plainCmd) uint16 {
	if c.locked {
		return swConditions
	}
	if p.p1 == 0xDE && p.p2 == 0xAD { // JMRTD: lock the applet
		if c.doc == "" {
			return swConditions // a card without access keys would be unreadable
		}
		c.locked = true
		c.reset()
		return swOK
	}
	if p.p1 != 0 {
		return swWrongP1P2
	}
	t, v, rest, ok := tlv1(p.data)
	if !ok || len(rest) != 0 || t != p.p2 {
		return swWrongData
	}
	var fields [][]byte
	for len(v) > 0 {
		ft, fv, n, ok := tlv1(v)
		if !ok || ft != 0x04 {
			return swWrongData
		}
		fields = append(fields, fv)
		v = n
	}
	switch p.p2 {
	case tagMRZ:
		if len(fields) != 3 || len(fields[1]) != 6 || len(fields[2]) != 6 {
			return swWrongData
		}
		c.doc, c.birth, c.expiry = string(fields[0]), string(fields[1]), string(fields[2])
	case tagPACECAN:
		if len(fields) != 1 || len(fields[0]) == 0 {
			return swWrongData
		}
		c.can = string(fields[0])
	case tagAAPrivEC:
		if len(fields) != 1 || len(fields[0]) != 32 {
			return swWrongData
		}
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), fields[0])
		if err != nil {
			return swWrongData
		}
		c.aa = k
	default:
		return swRefNotFound
	}
	return swOK
}

// Wipe returns the card to blank, as deleting and reinstalling the applet
// would (benchmarks personalize the same inserted card repeatedly).
func (c *Card) Wipe() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files = map[uint16]*efile{}
	c.doc, c.birth, c.expiry, c.can, c.aa, c.locked = "", "", "", "", nil, false
	c.reset()
}
