package smartcard

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ebfe/scard"
)

// EventKind says what the monitor saw.
type EventKind int

// Monitor events.
const (
	ReaderAdded EventKind = iota
	ReaderRemoved
	CardInserted
	CardRemoved
)

func (k EventKind) String() string {
	return [...]string{"reader added", "reader removed", "card inserted", "card removed"}[k]
}

// Event is one change seen by Watch.
type Event struct {
	Kind   EventKind
	Reader string
	ATR    []byte // for CardInserted
}

// pnpReader is pcsc-lite's pseudo reader whose state changes when a reader
// is added or removed.
const pnpReader = `\\?PnP?\Notification`

// Watch reports readers and cards coming and going until ctx is done
// (cancellation interrupts the blocking PC/SC wait at once via
// SCardCancel). Readers and cards present at the start are reported as
// added/inserted. fn is called from Watch's goroutine.
func Watch(ctx context.Context, fn func(Event)) error {
	sc, err := scard.EstablishContext()
	if err != nil {
		return mapErr("", "establish PC/SC context", err)
	}
	defer sc.Release()
	stop := context.AfterFunc(ctx, func() { sc.Cancel() })
	defer stop()

	type known struct {
		state scard.StateFlag
		card  bool
		atr   []byte
	}
	readers := map[string]*known{}
	for ctx.Err() == nil {
		names, err := sc.ListReaders()
		if err != nil && !errors.Is(err, scard.ErrNoReadersAvailable) {
			if ctx.Err() != nil {
				break
			}
			return mapErr("", "list readers", err)
		}
		seen := map[string]bool{}
		for _, n := range names {
			seen[n] = true
			if readers[n] == nil {
				readers[n] = &known{state: scard.StateUnaware}
				fn(Event{Kind: ReaderAdded, Reader: n})
			}
		}
		for n, k := range readers {
			if !seen[n] {
				if k.card {
					fn(Event{Kind: CardRemoved, Reader: n})
				}
				delete(readers, n)
				fn(Event{Kind: ReaderRemoved, Reader: n})
			}
		}
		states := make([]scard.ReaderState, 0, len(names)+1)
		for _, n := range names {
			states = append(states, scard.ReaderState{Reader: n, CurrentState: readers[n].state})
		}
		// The PnP pseudo reader's count of readers lives in the high 16
		// bits of its state (pcsc-lite); passing what we know makes the
		// call return when a reader is added or removed.
		states = append(states, scard.ReaderState{Reader: pnpReader, CurrentState: scard.StateFlag(len(names) << 16)})
		if err := waitChange(ctx, sc, states); err != nil {
			if ctx.Err() != nil || errors.Is(err, scard.ErrCancelled) {
				break
			}
			if errors.Is(err, scard.ErrUnknownReader) {
				continue // a reader went away between list and wait
			}
			return mapErr("", "wait for reader or card change", err)
		}
		for _, st := range states[:len(states)-1] {
			k := readers[st.Reader]
			ev := st.EventState &^ scard.StateChanged
			k.state = ev
			present := ev&scard.StatePresent != 0 && ev&scard.StateMute == 0
			switch {
			case present && (!k.card || !bytes.Equal(k.atr, st.Atr)):
				if k.card {
					fn(Event{Kind: CardRemoved, Reader: st.Reader})
				}
				k.card, k.atr = true, append([]byte{}, st.Atr...)
				fn(Event{Kind: CardInserted, Reader: st.Reader, ATR: k.atr})
			case !present && k.card:
				k.card, k.atr = false, nil
				fn(Event{Kind: CardRemoved, Reader: st.Reader})
			}
		}
	}
	return ctx.Err()
}

// String formats an event for logs (no card content, only the reader).
func (e Event) String() string { return fmt.Sprintf("%s: %s", e.Kind, e.Reader) }
