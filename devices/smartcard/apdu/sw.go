package apdu

import (
	"errors"
	"fmt"
)

// Status words used by this project (ISO 7816-4 §5.6, ICAO 9303 p11 §9.8.6).
const (
	SWOK                     uint16 = 0x9000
	SWEndOfFile              uint16 = 0x6282 // fewer bytes than Le could be read
	SWVerifyFailed           uint16 = 0x6300
	SWWrongLength            uint16 = 0x6700
	SWSMDataMissing          uint16 = 0x6987
	SWSMDataIncorrect        uint16 = 0x6988
	SWSecurityNotSatisfied   uint16 = 0x6982
	SWAuthMethodBlocked      uint16 = 0x6983
	SWConditionsNotSatisfied uint16 = 0x6985
	SWWrongData              uint16 = 0x6A80
	SWFuncNotSupported       uint16 = 0x6A81
	SWFileNotFound           uint16 = 0x6A82
	SWNotEnoughMemory        uint16 = 0x6A84
	SWIncorrectP1P2          uint16 = 0x6A86
	SWRefDataNotFound        uint16 = 0x6A88
	SWWrongP1P2              uint16 = 0x6B00
	SWINSNotSupported        uint16 = 0x6D00
	SWCLANotSupported        uint16 = 0x6E00
	SWUnknown                uint16 = 0x6F00
)

// StatusError is a status word other than 9000.
type StatusError struct{ SW uint16 }

func (e *StatusError) Error() string {
	return fmt.Sprintf("card answered %04X (%s)", e.SW, describe(e.SW))
}

// Is lets errors.Is(err, ErrFileNotFound) etc. match by status word.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.SW == e.SW
}

// Typed errors to test with errors.Is.
var (
	ErrSecurityNotSatisfied   = &StatusError{SWSecurityNotSatisfied}
	ErrFileNotFound           = &StatusError{SWFileNotFound}
	ErrConditionsNotSatisfied = &StatusError{SWConditionsNotSatisfied}
	ErrSMDataMissing          = &StatusError{SWSMDataMissing}
	ErrSMDataIncorrect        = &StatusError{SWSMDataIncorrect}
	ErrWrongData              = &StatusError{SWWrongData}
	ErrINSNotSupported        = &StatusError{SWINSNotSupported}
	ErrRefDataNotFound        = &StatusError{SWRefDataNotFound}
	ErrWrongP1P2              = &StatusError{SWWrongP1P2}
)

// SW returns the status word carried by err, if any.
func SW(err error) (uint16, bool) {
	var se *StatusError
	if errors.As(err, &se) {
		return se.SW, true
	}
	return 0, false
}

func describe(sw uint16) string {
	switch sw {
	case SWEndOfFile:
		return "end of file reached before Le bytes"
	case SWWrongLength:
		return "wrong length"
	case SWSMDataMissing:
		return "secure messaging data objects missing"
	case SWSMDataIncorrect:
		return "secure messaging data objects incorrect"
	case SWSecurityNotSatisfied:
		return "security status not satisfied"
	case SWAuthMethodBlocked:
		return "authentication method blocked"
	case SWConditionsNotSatisfied:
		return "conditions of use not satisfied"
	case SWWrongData:
		return "incorrect data"
	case SWFuncNotSupported:
		return "function not supported"
	case SWFileNotFound:
		return "file or application not found"
	case SWNotEnoughMemory:
		return "not enough memory in file"
	case SWIncorrectP1P2, SWWrongP1P2:
		return "incorrect parameters P1-P2"
	case SWRefDataNotFound:
		return "referenced data not found"
	case SWINSNotSupported:
		return "instruction not supported"
	case SWCLANotSupported:
		return "class not supported"
	case SWUnknown:
		return "no precise diagnosis"
	}
	switch sw & 0xFF00 {
	case 0x6300:
		if sw&0xF0 == 0xC0 {
			return fmt.Sprintf("verification failed, %d tries left", sw&0x0F)
		}
		return "verification failed"
	case 0x6400, 0x6500:
		return "execution error"
	case 0x6C00:
		return "wrong Le"
	case 0x6100:
		return "more data available"
	}
	return "unknown status"
}
