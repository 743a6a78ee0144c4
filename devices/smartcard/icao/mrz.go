package icao

import (
	"crypto/sha1"
	"fmt"
	"strings"
)

// CheckDigit computes the ICAO 9303 p3 §4.9 check digit: weights 7, 3, 1
// repeating; digits count as themselves, A..Z as 10..35 and '<' as 0.
func CheckDigit(s string) (byte, error) {
	sum := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		case c == '<':
			v = 0
		default:
			return 0, fmt.Errorf("character %q at position %d is not allowed in an MRZ field", c, i+1)
		}
		sum += v * [3]int{7, 3, 1}[i%3]
	}
	return byte('0' + sum%10), nil
}

// MRZKey is the part of the MRZ that BAC and PACE-with-MRZ use as password.
type MRZKey struct {
	DocumentNumber string // as printed, without check digit ('<' filler allowed)
	BirthDate      string // YYMMDD
	ExpiryDate     string // YYMMDD
}

// information returns MRZ_information of ICAO 9303 p11 §9.7.2 (document
// number with filler to at least 9 characters, birth date, expiry date,
// each followed by its check digit).
func (k MRZKey) information() (string, error) {
	doc := strings.ToUpper(strings.TrimSpace(k.DocumentNumber))
	for len(doc) < 9 {
		doc += "<"
	}
	var b strings.Builder
	for _, f := range []struct{ name, v string }{{"document number", doc}, {"birth date", k.BirthDate}, {"expiry date", k.ExpiryDate}} {
		if f.name != "document number" && !isDate(f.v) {
			return "", fmt.Errorf("%s %q must be YYMMDD", f.name, f.v)
		}
		cd, err := CheckDigit(f.v)
		if err != nil {
			return "", fmt.Errorf("%s: %w", f.name, err)
		}
		b.WriteString(f.v)
		b.WriteByte(cd)
	}
	return b.String(), nil
}

func isDate(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < 6; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// bacSeed is K_seed: the first 16 bytes of SHA-1(MRZ_information) (p11 §9.7.2).
func (k MRZKey) bacSeed() ([]byte, error) {
	info, err := k.information()
	if err != nil {
		return nil, err
	}
	h := sha1.Sum([]byte(info))
	return h[:16], nil
}

// pacePassword is K for PACE: SHA-1(MRZ_information) for the MRZ
// (p11 §9.7.3), the CAN's characters otherwise.
func (k MRZKey) pacePassword() ([]byte, error) {
	info, err := k.information()
	if err != nil {
		return nil, err
	}
	h := sha1.Sum([]byte(info))
	return h[:], nil
}

// BACInfo validates the key and returns MRZ_information (document number,
// birth and expiry dates, each with its check digit).
func (k MRZKey) BACInfo() (string, error) { return k.information() }
