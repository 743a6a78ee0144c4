package zfm

import (
	"errors"
	"fmt"

	"github.com/openenroll/stationd/devices/fingerprint"
)

// Instruction codes (R30x/ZFM user manual, instruction table; AuraLedConfig
// from the R503 manual; OpenLED/CloseLED from modules with a plain LED).
const (
	CmdGenImg        byte = 0x01
	CmdUpImage       byte = 0x0A
	CmdSetSysPara    byte = 0x0E
	CmdReadSysPara   byte = 0x0F
	CmdVfyPwd        byte = 0x13
	CmdTemplateNum   byte = 0x1D
	CmdAuraLedConfig byte = 0x35
	CmdOpenLED       byte = 0x50
	CmdCloseLED      byte = 0x51
)

// SetSysPara parameter numbers (manual, "Set module system's basic
// parameter").
const (
	ParamBaud       byte = 4 // content N: baud = 9600 × N, N in 1..12
	ParamSecurity   byte = 5 // content 1..5
	ParamPacketSize byte = 6 // content 0..3: 32, 64, 128, 256 bytes
)

// Code is a module confirmation code (the first payload byte of every
// acknowledgement).
type Code byte

// Confirmation codes (manual, "Confirmation code" table).
const (
	CodeOK              Code = 0x00
	CodeRecvError       Code = 0x01
	CodeNoFinger        Code = 0x02
	CodeEnrollFail      Code = 0x03
	CodeTooDry          Code = 0x04 // some firmware: image too dry/light
	CodeTooWet          Code = 0x05 // some firmware: image too wet/dark
	CodeTooMessy        Code = 0x06
	CodeFewFeatures     Code = 0x07
	CodeNoMatch         Code = 0x08
	CodeNotFound        Code = 0x09
	CodeMergeFail       Code = 0x0A
	CodeBadPage         Code = 0x0B
	CodeBadTemplate     Code = 0x0C
	CodeUploadFeature   Code = 0x0D
	CodeNoDataPackets   Code = 0x0E
	CodeUploadImage     Code = 0x0F
	CodeDeleteFail      Code = 0x10
	CodeClearFail       Code = 0x11
	CodeWrongPassword   Code = 0x13
	CodeNoPrimaryImage  Code = 0x15
	CodeFlashWrite      Code = 0x18
	CodeUndefined       Code = 0x19
	CodeBadRegister     Code = 0x1A
	CodeBadRegisterConf Code = 0x1B
	CodeBadNotepad      Code = 0x1C
	CodePortFail        Code = 0x1D
	CodeBadAddress      Code = 0x20 // R50x
	CodeNeedPassword    Code = 0x21 // R50x
)

type codeText struct{ what, advice string }

// codeTexts is the operator's wording of each code and what to do.
var codeTexts = map[Code]codeText{
	CodeOK:              {"success", ""},
	CodeRecvError:       {"the module did not receive the command correctly", "retry; if it persists check the cable"},
	CodeNoFinger:        {"no finger on the sensor", "ask the person to place the finger flat on the glass"},
	CodeEnrollFail:      {"the sensor failed to take the image", "ask the person to lift and place the finger again"},
	CodeTooDry:          {"image too dry or too light", "ask the person to moisten the finger slightly and press a little harder"},
	CodeTooWet:          {"image too wet or too dark", "ask the person to dry the finger and press more lightly"},
	CodeTooMessy:        {"image too messy", "clean the glass and the finger, then place the finger again"},
	CodeFewFeatures:     {"too few ridge details in the image", "ask the person to place more of the finger on the glass"},
	CodeNoMatch:         {"finger does not match", "place the same finger again"},
	CodeNotFound:        {"finger not found in the module's library", "this finger is not enrolled on the module"},
	CodeMergeFail:       {"the impressions could not be combined", "capture the finger again"},
	CodeBadPage:         {"template number out of range", "a technician should check the module's library size"},
	CodeBadTemplate:     {"stored template is invalid", "a technician should clear the module's library"},
	CodeUploadFeature:   {"template upload failed", "retry; if it persists check the cable"},
	CodeNoDataPackets:   {"the module cannot receive the data packets", "retry; if it persists check the cable"},
	CodeUploadImage:     {"image upload failed", "capture the finger again; if it persists check the cable"},
	CodeDeleteFail:      {"deleting a template failed", "retry"},
	CodeClearFail:       {"clearing the library failed", "retry"},
	CodeWrongPassword:   {"wrong module password", "a technician should set the scanner's password in the station configuration"},
	CodeNoPrimaryImage:  {"no valid image in the module's buffer", "capture the finger again"},
	CodeFlashWrite:      {"the module could not write its flash memory", "the scanner may be faulty: replace it"},
	CodeUndefined:       {"undefined module error", "unplug and reconnect the scanner"},
	CodeBadRegister:     {"invalid register number", "a technician should check the scanner settings"},
	CodeBadRegisterConf: {"invalid register setting", "a technician should check the scanner settings"},
	CodeBadNotepad:      {"invalid notepad page", "a technician should check the scanner settings"},
	CodePortFail:        {"the module's serial port failed", "unplug and reconnect the scanner"},
	CodeBadAddress:      {"wrong module address", "a technician should set the scanner's address in the station configuration"},
	CodeNeedPassword:    {"the module requires its password first", "a technician should set the scanner's password in the station configuration"},
}

// String is the operator's wording of the code.
func (c Code) String() string {
	if t, ok := codeTexts[c]; ok {
		return t.what
	}
	return fmt.Sprintf("unknown module error 0x%02X", byte(c))
}

// Advice says what the operator or technician can do.
func (c Code) Advice() string {
	if t, ok := codeTexts[c]; ok {
		return t.advice
	}
	return "unplug and reconnect the scanner; if it persists replace it"
}

// Error is a module's refusal of a command: a confirmation code other than
// success. It matches the fingerprint family's errors with errors.Is
// (ErrNoFinger, ErrBadImage, ErrProtocol).
type Error struct {
	Device string // device ID (or port)
	Op     string // instruction name
	Code   Code
}

func (e *Error) Error() string {
	s := fmt.Sprintf("fingerprint scanner %q: %s: %s (code 0x%02X)", e.Device, e.Op, e.Code, byte(e.Code))
	if a := e.Code.Advice(); a != "" {
		s += ": " + a
	}
	return s
}

// Is maps codes onto the family errors.
func (e *Error) Is(target error) bool {
	switch target {
	case fingerprint.ErrNoFinger:
		return e.Code == CodeNoFinger
	case fingerprint.ErrBadImage:
		switch e.Code {
		case CodeEnrollFail, CodeTooDry, CodeTooWet, CodeTooMessy, CodeFewFeatures, CodeNoPrimaryImage:
			return true
		}
	case fingerprint.ErrProtocol:
		return e.Code == CodeRecvError || e.Code == CodeNoDataPackets
	}
	return false
}

// Driver-side failures (no confirmation code involved). They are wrapped
// with the device name and instruction; errors.Is finds them.
var (
	// ErrTimeout: the module did not answer in time.
	ErrTimeout = errors.New("no answer from the module in time")
	// ErrMalformed: the module's answer has the wrong shape.
	ErrMalformed = errors.New("malformed answer from the module")
	// ErrImageSize: the module sent an image of another size than
	// configured (image_width × image_height).
	ErrImageSize = errors.New("image size differs from the configured sensor size")
	// ErrGone is fingerprint.ErrDeviceGone: the port disappeared.
	ErrGone = fingerprint.ErrDeviceGone
	// ErrClosed: the scanner was closed by the station.
	ErrClosed = errors.New("scanner closed")
)

// protoError marks line-level failures (checksum, timeout, malformed) so that
// errors.Is(err, fingerprint.ErrProtocol) holds for them too.
type protoError struct{ err error }

func (p protoError) Error() string { return p.err.Error() }
func (p protoError) Unwrap() []error {
	return []error{p.err, fingerprint.ErrProtocol}
}
