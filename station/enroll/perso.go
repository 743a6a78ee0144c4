package enroll

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"gocv.io/x/gocv"

	"github.com/openenroll/stationd/capture/face"
	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/smartcard"
	"github.com/openenroll/stationd/devices/smartcard/emrtd"
	"github.com/openenroll/stationd/devices/smartcard/lds"
	"github.com/openenroll/stationd/station/session"
)

// LoadDocumentSigner reads the document signer certificate and its PKCS#8
// private key (mode 0600 or stricter) that sign EF.SOD at personalization.
func LoadDocumentSigner(certPath, keyPath string) (*lds.Signer, error) {
	certs, err := emrtd.ReadCerts(certPath)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("document signer certificate %s: %v", certPath, err)
	}
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("document signer key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("document signer key %s has mode %v; run chmod 600 %s", keyPath, fi.Mode().Perm(), keyPath)
	}
	b, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("document signer key %s is not PEM", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("document signer key %s: %w", keyPath, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("document signer key %s cannot sign", keyPath)
	}
	return &lds.Signer{Cert: certs[0], Key: signer}, nil
}

// PersoResult is the reply to session.card in personalize mode.
type PersoResult struct {
	Session  string         `json:"session"`
	OK       bool           `json:"ok"`
	Document string         `json:"document"`
	Passive  string         `json:"passive"`
	Active   string         `json:"active"`
	APDUs    int            `json:"apdus"`
	Detail   string         `json:"detail"`
	Summary  map[string]any `json:"summary"`
}

type persoRequest struct {
	Session string    `json:"session"`
	Device  string    `json:"device"`
	MRZ     lds.MRZ   `json:"mrz"`
	CCCD    *lds.CCCD `json:"cccd"`
	CAN     string    `json:"can"`
}

// Personalize writes a blank card from the session: DG1 from the MRZ data
// the officer gives, DG2 from the captured portrait, DG13 from the CCCD
// details; it signs EF.SOD with the document signer, locks the card, reads it
// back and records whether it verifies.
func (c *Controller) Personalize(ctx context.Context, in persoRequest) (*PersoResult, error) {
	if c.opts.DocumentSigner == nil {
		return nil, fail("unavailable", "no document signer configured ([card] ds_cert and ds_key): this station cannot issue cards")
	}
	s, err := c.opts.Sessions.Get(in.Session)
	if err != nil {
		return nil, coded(err)
	}
	if s.Policy.Card != session.CardPersonalize {
		return nil, fail("refused", "this session's card step is %q, not personalize", s.Policy.Card)
	}
	if s.Face == nil {
		return nil, fail("refused", "take the portrait first: it is written to the card")
	}
	if in.MRZ.DocumentNumber == "" || in.MRZ.BirthDate == "" || in.MRZ.ExpiryDate == "" {
		return nil, fail("bad_request", "mrz: document_number, birth_date and expiry_date are required")
	}
	if in.MRZ.Format == "" {
		in.MRZ.Format, in.MRZ.DocumentCode = "TD1", "ID"
	}
	key := in.MRZ.Key()
	if err := emrtd.CheckMRZKey(key); err != nil {
		return nil, fail("bad_request", "mrz: %v", err)
	}
	jpg, err := c.opts.Sessions.ReadBlob(s.ID, s.Face.Image.File)
	if err != nil {
		return nil, err
	}
	if jpg, err = fitDG2(jpg); err != nil {
		return nil, fail("capture_failed", "portrait for the chip: %v", err)
	}
	rd, info, err := findDevice[*smartcard.Reader](c.opts.Registry, in.Device, devices.KindCardReader)
	if err != nil {
		return nil, err
	}
	if err := c.claim(info.ID, "personalizing a card"); err != nil {
		return nil, err
	}
	defer c.release(info.ID)
	// A fresh active-authentication key per card: the private half goes on
	// the chip and nowhere else.
	aa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	gender := byte(0)
	switch strings.ToUpper(in.MRZ.Sex) {
	case "M":
		gender = 1
	case "F":
		gender = 2
	}
	e := lds.Enrollment{MRZ: in.MRZ, CCCD: in.CCCD, AAPublicKey: &aa.PublicKey, PACEParam: lds.ParamP256,
		Face: lds.Face{Gender: gender, ImageDataType: 0, Width: uint16(s.Face.Image.Width), Height: uint16(s.Face.Image.Height), Image: jpg}}
	c.publish("capture.card.personalizing", map[string]any{"session": s.ID, "device": info.ID})
	c.attempt(info.ID, "card write")
	card, err := rd.Connect(ctx)
	if err != nil {
		c.failed(ctx, info.ID, "card write", err)
		return nil, cardError(err)
	}
	defer card.Close()
	// Once writing starts, finish it: a half-written card is spoiled.
	doc, stats, err := emrtd.Issue(context.WithoutCancel(ctx), card, e, *c.opts.DocumentSigner,
		emrtd.PersoKeys{MRZ: key, CAN: in.CAN, AAKey: aa}, c.opts.CSCAs)
	if err != nil {
		c.failed(context.WithoutCancel(ctx), info.ID, "card write", err)
	} else {
		c.captured(info.ID, "card write")
	}
	res := &PersoResult{Session: s.ID, Document: in.MRZ.DocumentNumber}
	_ = stats
	if doc != nil {
		res.APDUs = doc.APDUs
		res.Passive, res.Active = "passed", doc.AA
		if doc.PAErr != nil {
			res.Passive = doc.PAErr.Error()
		}
		if doc.AAErr != nil {
			res.Active = doc.AAErr.Error()
		}
	}
	res.OK = err == nil && doc != nil && doc.Verified()
	if err != nil {
		res.Detail = fmt.Sprintf("personalization of %s failed: %v", res.Document, err)
	} else {
		res.Detail = fmt.Sprintf("card %s written, locked and read back; passive authentication %s; active authentication %s", res.Document, res.Passive, res.Active)
	}
	ns, serr := c.opts.Sessions.SetCard(s.ID, session.CardResult{Mode: session.CardPersonalize, OK: res.OK, Detail: res.Detail,
		Document: res.Document, Device: info.ID})
	if serr != nil {
		return nil, coded(serr)
	}
	res.Summary = ns.Summary()
	c.publish("capture.card.result", res)
	if err != nil {
		return res, cardError(err)
	}
	return res, nil
}

// dg2Budget is the most bytes the chip's portrait may take: chips leave
// about 15-20 KB for DG2 (ICAO 9303 p10), and a smaller file reads faster.
const dg2Budget = 18000

// fitDG2 re-encodes the kept portrait (kept at full quality for the packet)
// within the chip's budget.
func fitDG2(jpg []byte) ([]byte, error) {
	if len(jpg) <= dg2Budget {
		return jpg, nil
	}
	m, err := gocv.IMDecode(jpg, gocv.IMReadColor)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if m.Empty() {
		return nil, errors.New("stored portrait does not decode")
	}
	return face.EncodeJPEG(m, dg2Budget)
}

func (c *Controller) cmdPersonalize(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[persoRequest](p)
	if err != nil {
		return nil, err
	}
	return c.Personalize(ctx, in)
}
