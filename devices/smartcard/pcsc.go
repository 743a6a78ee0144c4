// Package smartcard is the station's chip-card reader family: PC/SC
// readers reached through pcscd (github.com/ebfe/scard), a monitor (Watch)
// that reports readers and cards coming and going, the "pcsc" driver that
// puts a configured reader into the device registry (option reader =
// substring of the PC/SC name), and Discover, which attaches whatever
// readers appear instead. Card insertion and removal show as the reader
// device's state detail ("card present" / "no card").
//
// The ICAO 9303 protocols live in smartcard/icao, the APDU codec in
// smartcard/apdu and the LDS data structures in smartcard/lds; this
// package only moves bytes between them and the reader.
//
// PC/SC contexts are not shared between goroutines: every Card, and every
// monitor, establishes its own.
package smartcard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ebfe/scard"
)

// ErrCardRemoved means the card left the reader (or was reset) during an
// exchange: the operator should put the card back and read it again.
var ErrCardRemoved = errors.New("card removed from the reader; place it back on the reader and read again")

// ErrNoCard means the reader is empty.
var ErrNoCard = errors.New("no card in the reader; place the card on the reader")

// ErrNoService means pcscd is not running.
var ErrNoService = errors.New("PC/SC service (pcscd) not running; start pcscd")

// mapErr turns PC/SC errors into the station's errors.
func mapErr(reader, op string, err error) error {
	if err == nil {
		return nil
	}
	var e scard.Error
	if errors.As(err, &e) {
		switch e {
		case scard.ErrRemovedCard, scard.ErrResetCard, scard.ErrNotTransacted, scard.ErrUnpoweredCard, scard.ErrUnresponsiveCard:
			return fmt.Errorf("reader %q: %s: %w (%v)", reader, op, ErrCardRemoved, e)
		case scard.ErrNoSmartcard:
			return fmt.Errorf("reader %q: %s: %w", reader, op, ErrNoCard)
		case scard.ErrNoService, scard.ErrServiceStopped:
			return fmt.Errorf("reader %q: %s: %w", reader, op, ErrNoService)
		case scard.ErrReaderUnavailable, scard.ErrUnknownReader:
			return fmt.Errorf("reader %q: %s: reader unplugged; plug it back in: %w", reader, op, e)
		}
	}
	return fmt.Errorf("reader %q: %s: %w", reader, op, err)
}

// ListReaders returns the PC/SC reader names.
func ListReaders() ([]string, error) {
	c, err := scard.EstablishContext()
	if err != nil {
		return nil, mapErr("", "establish PC/SC context", err)
	}
	defer c.Release()
	rs, err := c.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr("", "list readers", err)
	}
	return rs, nil
}

// MatchReader returns the first reader whose name contains pattern
// (case-insensitive); an empty pattern matches any reader.
func MatchReader(readers []string, pattern string) (string, bool) {
	p := strings.ToLower(pattern)
	for _, r := range readers {
		if strings.Contains(strings.ToLower(r), p) {
			return r, true
		}
	}
	return "", false
}

// Card is a connection to the card in one reader. It implements
// apdu.Transport. It must be used from one goroutine at a time.
type Card struct {
	reader string
	mu     sync.Mutex
	ctx    *scard.Context
	card   *scard.Card
	atr    []byte
	apdus  uint64
}

// Connect waits up to the context's deadline for a card in reader, then
// connects to it (shared mode, T=0 or T=1).
func Connect(ctx context.Context, reader string) (*Card, error) {
	sc, err := scard.EstablishContext()
	if err != nil {
		return nil, mapErr(reader, "establish PC/SC context", err)
	}
	stop := context.AfterFunc(ctx, func() { sc.Cancel() })
	defer stop()
	rs := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	for {
		if err := waitChange(ctx, sc, rs); err != nil {
			sc.Release()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("reader %q: waiting for a card: %w", reader, ctx.Err())
			}
			return nil, mapErr(reader, "wait for card", err)
		}
		st := rs[0].EventState
		if st&scard.StatePresent != 0 && st&scard.StateMute == 0 {
			break
		}
		if st&(scard.StateUnknown|scard.StateUnavailable) != 0 {
			sc.Release()
			return nil, mapErr(reader, "wait for card", scard.ErrUnknownReader)
		}
		rs[0].CurrentState = st
	}
	card, err := sc.Connect(reader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		sc.Release()
		return nil, mapErr(reader, "connect", err)
	}
	c := &Card{reader: reader, ctx: sc, card: card}
	if s, err := card.Status(); err == nil {
		c.atr = s.Atr
	}
	return c, nil
}

// ATR returns the card's answer to reset.
func (c *Card) ATR() []byte { return c.atr }

// Reader returns the reader's name.
func (c *Card) Reader() string { return c.reader }

// APDUs returns the number of APDUs exchanged.
func (c *Card) APDUs() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apdus
}

// Transmit sends one APDU. PC/SC cannot abort an APDU in flight, so the
// context is checked before sending; a card's answer time is bounded by
// the reader driver.
func (c *Card) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.card == nil {
		return nil, fmt.Errorf("reader %q: card connection closed", c.reader)
	}
	c.apdus++
	rsp, err := c.card.Transmit(cmd)
	if err != nil {
		return nil, mapErr(c.reader, "transmit", err)
	}
	if len(rsp) < 2 {
		// vpcd (and some real readers) answer an empty response when the
		// card leaves the field mid-command; pcscd notices the removal at
		// its next poll. Wait for that, briefly, to tell removal apart
		// from a mute card.
		wctx, cancel := context.WithTimeout(ctx, muteWait)
		defer cancel()
		if WaitCard(wctx, c.reader, false) == nil {
			return nil, fmt.Errorf("reader %q: transmit: %w", c.reader, ErrCardRemoved)
		}
		return nil, fmt.Errorf("reader %q: card gave a %d-byte answer without status word; %w", c.reader, len(rsp), ErrCardMute)
	}
	return rsp, nil
}

// cancelBackstop bounds each PC/SC wait. Cancellation normally interrupts
// a wait at once (SCardCancel), but a cancel that lands between two waits
// is lost; the bound makes sure the loop sees the context soon after.
const cancelBackstop = 500 * time.Millisecond

// waitChange is GetStatusChange that ends when ctx does.
func waitChange(ctx context.Context, sc *scard.Context, rs []scard.ReaderState) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := sc.GetStatusChange(rs, cancelBackstop)
		if errors.Is(err, scard.ErrTimeout) {
			continue
		}
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
}

// muteWait bounds how long a response without status word waits for pcscd
// to report the card gone (pcsc-lite polls readers about every 400 ms).
const muteWait = 2 * time.Second

// ErrCardMute means the card stopped answering while still in the reader.
var ErrCardMute = errors.New("card not answering; lift it off the reader and place it back")

// Close disconnects (leaving the card powered) and releases the context.
func (c *Card) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.card == nil {
		return nil
	}
	c.card.Disconnect(scard.LeaveCard)
	c.card = nil
	return c.ctx.Release()
}

// WaitCard blocks until the reader reports a card present (present=true)
// or empty (false), or ctx ends.
func WaitCard(ctx context.Context, reader string, present bool) error {
	sc, err := scard.EstablishContext()
	if err != nil {
		return mapErr(reader, "establish PC/SC context", err)
	}
	defer sc.Release()
	stop := context.AfterFunc(ctx, func() { sc.Cancel() })
	defer stop()
	rs := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	for {
		if err := waitChange(ctx, sc, rs); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return mapErr(reader, "wait for card state", err)
		}
		st := rs[0].EventState
		if (st&scard.StatePresent != 0) == present {
			return nil
		}
		rs[0].CurrentState = st &^ scard.StateChanged
	}
}
