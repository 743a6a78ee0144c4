package enroll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/smartcard"
	"github.com/openenroll/stationd/devices/smartcard/emrtd"
	"github.com/openenroll/stationd/devices/smartcard/icao"
	"github.com/openenroll/stationd/station/session"
)

// CardReadResult is the reply to session.card in read mode.
type CardReadResult struct {
	Session  string         `json:"session"`
	OK       bool           `json:"ok"`
	Access   string         `json:"access"`   // "BAC", "PACE P-256"...
	Document string         `json:"document"` // document number
	Passive  string         `json:"passive"`  // "passed" or why it failed
	Active   string         `json:"active"`   // "passed", "not supported" or why it failed
	Holder   map[string]any `json:"holder"`   // what the chip says (for the officer to compare)
	Detail   string         `json:"detail"`   // one line for the review screen
	Summary  map[string]any `json:"summary"`
}

func (c *Controller) cmdCard(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[struct {
		Session string `json:"session"`
		Device  string `json:"device"`
		// The access key: the MRZ fields printed on the card, or its CAN.
		Document string `json:"document"`
		Birth    string `json:"birth"`  // YYMMDD
		Expiry   string `json:"expiry"` // YYMMDD
		CAN      string `json:"can"`
	}](p)
	if err != nil {
		return nil, err
	}
	var key emrtd.AccessKey
	switch {
	case in.CAN != "":
		key.CAN = in.CAN
	case in.Document != "":
		key.MRZ = &icao.MRZKey{DocumentNumber: strings.ToUpper(in.Document), BirthDate: in.Birth, ExpiryDate: in.Expiry}
		if err := emrtd.CheckMRZKey(*key.MRZ); err != nil {
			return nil, fail("bad_request", "card access key: %v", err)
		}
	default:
		return nil, fail("bad_request", "give the card's CAN or its document number, birth and expiry dates")
	}
	return c.ReadCard(ctx, in.Session, in.Device, key)
}

// ReadCard reads and verifies the applicant's chip card and records the
// outcome in the session.
func (c *Controller) ReadCard(ctx context.Context, sid, deviceID string, key emrtd.AccessKey) (*CardReadResult, error) {
	s, err := c.opts.Sessions.Get(sid)
	if err != nil {
		return nil, coded(err)
	}
	if s.Policy.Card != session.CardRead {
		return nil, fail("refused", "this session's card step is %q, not read", s.Policy.Card)
	}
	rd, info, err := findDevice[*smartcard.Reader](c.opts.Registry, deviceID, devices.KindCardReader)
	if err != nil {
		return nil, err
	}
	if err := c.claim(info.ID, "reading a card"); err != nil {
		return nil, err
	}
	defer c.release(info.ID)
	c.publish("capture.card.reading", map[string]any{"session": sid, "device": info.ID})
	c.attempt(info.ID, "card read")
	card, err := rd.Connect(ctx)
	if err != nil {
		c.failed(ctx, info.ID, "card read", err)
		return nil, cardError(err)
	}
	defer card.Close()
	doc, err := emrtd.Read(ctx, card, emrtd.ReadOptions{Key: key, CSCAs: c.opts.CSCAs})
	if err != nil {
		c.failed(ctx, info.ID, "card read", err)
		return nil, cardError(err)
	}
	c.captured(info.ID, "card read")
	res := &CardReadResult{Session: sid, OK: doc.Verified(), Access: doc.Access, Document: doc.MRZ.DocumentNumber,
		Passive: "passed", Active: doc.AA}
	if doc.PAErr != nil {
		res.Passive = doc.PAErr.Error()
	}
	if doc.AAErr != nil {
		res.Active = doc.AAErr.Error()
	}
	res.Holder = map[string]any{"name": strings.TrimSpace(doc.MRZ.PrimaryName + " " + doc.MRZ.SecondaryName),
		"birth": doc.MRZ.BirthDate, "sex": doc.MRZ.Sex, "nationality": doc.MRZ.Nationality, "expiry": doc.MRZ.ExpiryDate}
	if doc.CCCD != nil {
		res.Holder["cccd"] = doc.CCCD
	}
	res.Detail = fmt.Sprintf("%s read by %s; passive authentication %s; active authentication %s", res.Document, res.Access, res.Passive, res.Active)
	ns, err := c.opts.Sessions.SetCard(sid, session.CardResult{Mode: session.CardRead, OK: res.OK, Detail: res.Detail,
		Document: res.Document, Device: info.ID})
	if err != nil {
		return nil, coded(err)
	}
	res.Summary = ns.Summary()
	c.publish("capture.card.result", res)
	return res, nil
}

// cardError words card failures for the officer.
func cardError(err error) error {
	switch {
	case errors.Is(err, smartcard.ErrNoCard):
		return fail("no_card", "%v", err)
	case errors.Is(err, smartcard.ErrCardRemoved), errors.Is(err, smartcard.ErrCardMute):
		return fail("card_removed", "%v", err)
	case errors.Is(err, smartcard.ErrNoService):
		return fail("device_unavailable", "%v", err)
	}
	return fail("card_failed", "%v", err)
}
