package lds

import (
	"fmt"
	"strings"

	"github.com/openenroll/stationd/devices/smartcard/icao"
)

// MRZ holds the machine readable zone's fields (ICAO 9303 parts 4-6).
type MRZ struct {
	Format         string `json:"format"`          // "TD1" (ID card, 3×30) or "TD3" (passport, 2×44)
	DocumentCode   string `json:"document_code"`   // "ID", "P<"...
	IssuingState   string `json:"issuing_state"`   // "VNM"
	DocumentNumber string `json:"document_number"` // without filler
	BirthDate      string `json:"birth_date"`      // YYMMDD
	Sex            string `json:"sex"`             // "M", "F" or "<"
	ExpiryDate     string `json:"expiry_date"`     // YYMMDD
	Nationality    string `json:"nationality"`
	PrimaryName    string `json:"primary_name"`   // surname, words separated by spaces
	SecondaryName  string `json:"secondary_name"` // given names
	Optional1      string `json:"optional1"`      // TD1 line 1 optional data (the CCCD's full ID number)
	Optional2      string `json:"optional2,omitempty"`
}

// Key returns the BAC/PACE access key printed in this MRZ.
func (m MRZ) Key() icao.MRZKey {
	return icao.MRZKey{DocumentNumber: m.DocumentNumber, BirthDate: m.BirthDate, ExpiryDate: m.ExpiryDate}
}

func field(s string, n int) string {
	s = strings.ToUpper(s)
	s = strings.ReplaceAll(s, " ", "<")
	if len(s) > n {
		return s[:n]
	}
	return s + strings.Repeat("<", n-len(s))
}

func cd(s string) string {
	c, err := icao.CheckDigit(s)
	if err != nil {
		return "<"
	}
	return string(c)
}

func nameField(primary, secondary string, n int) string {
	return field(field(primary, len(primary))+"<<"+field(secondary, len(secondary)), n)
}

// String renders the MRZ as its lines (TD1 when Format is not "TD3").
func (m MRZ) String() string {
	if m.Format == "TD3" {
		l1 := field(m.DocumentCode, 2) + field(m.IssuingState, 3) + nameField(m.PrimaryName, m.SecondaryName, 39)
		doc := field(m.DocumentNumber, 9)
		opt := field(m.Optional1, 14)
		l2 := doc + cd(doc) + field(m.Nationality, 3) + m.BirthDate + cd(m.BirthDate) + field(m.Sex, 1) +
			m.ExpiryDate + cd(m.ExpiryDate) + opt + cd(opt)
		l2 += cd(l2[0:10] + l2[13:20] + l2[21:43])
		return l1 + l2
	}
	doc := field(m.DocumentNumber, 9)
	l1 := field(m.DocumentCode, 2) + field(m.IssuingState, 3) + doc + cd(doc) + field(m.Optional1, 15)
	l2 := m.BirthDate + cd(m.BirthDate) + field(m.Sex, 1) + m.ExpiryDate + cd(m.ExpiryDate) +
		field(m.Nationality, 3) + field(m.Optional2, 11)
	l2 += cd(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
	return l1 + l2 + nameField(m.PrimaryName, m.SecondaryName, 30)
}

// EncodeDG1 builds DG1: 61 { 5F1F MRZ } (ICAO 9303 p10 §4.7.1).
func EncodeDG1(m MRZ) []byte {
	return EncodeTLV(0x61, EncodeTLV(0x5F1F, []byte(m.String())))
}

// ParseDG1 reads DG1 and checks every check digit of the MRZ.
func ParseDG1(b []byte) (MRZ, error) {
	f, err := parseFile(b, 0x61, "DG1")
	if err != nil {
		return MRZ{}, err
	}
	kids, err := f.Children()
	if err != nil {
		return MRZ{}, fmt.Errorf("DG1: %w", err)
	}
	v, ok := Find(kids, 0x5F1F)
	if !ok {
		return MRZ{}, fmt.Errorf("DG1: MRZ data object 5F1F missing")
	}
	m, err := ParseMRZ(string(v.Value))
	if err != nil {
		return MRZ{}, fmt.Errorf("DG1: %w", err)
	}
	return m, nil
}

// ParseMRZ reads a TD1 (90 characters) or TD3 (88 characters) MRZ, with or
// without line breaks, and verifies its check digits.
func ParseMRZ(s string) (MRZ, error) {
	s = strings.NewReplacer("\n", "", "\r", "").Replace(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '<') {
			return MRZ{}, fmt.Errorf("MRZ character %d (%q) is not A-Z, 0-9 or '<'", i+1, c)
		}
	}
	check := func(name, data string, digit byte) error {
		if c := cd(data); c[0] != digit {
			return fmt.Errorf("MRZ %s check digit is %c, computed %s", name, digit, c)
		}
		return nil
	}
	var m MRZ
	switch len(s) {
	case 90:
		l1, l2, l3 := s[:30], s[30:60], s[60:]
		m = MRZ{Format: "TD1", DocumentCode: trimF(l1[0:2]), IssuingState: trimF(l1[2:5]), DocumentNumber: trimF(l1[5:14]),
			Optional1: trimF(l1[15:30]), BirthDate: l2[0:6], Sex: l2[7:8], ExpiryDate: l2[8:14], Nationality: trimF(l2[15:18]),
			Optional2: trimF(l2[18:29])}
		m.PrimaryName, m.SecondaryName = splitName(l3)
		for _, c := range []struct {
			n, d  string
			digit byte
		}{{"document number", l1[5:14], l1[14]}, {"birth date", l2[0:6], l2[6]}, {"expiry date", l2[8:14], l2[14]},
			{"composite", l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29]}} {
			if c.n == "document number" && c.digit == '<' {
				continue // long document number continues in the optional data
			}
			if err := check(c.n, c.d, c.digit); err != nil {
				return MRZ{}, err
			}
		}
	case 88:
		l1, l2 := s[:44], s[44:]
		m = MRZ{Format: "TD3", DocumentCode: trimF(l1[0:2]), IssuingState: trimF(l1[2:5]), DocumentNumber: trimF(l2[0:9]),
			Nationality: trimF(l2[10:13]), BirthDate: l2[13:19], Sex: l2[20:21], ExpiryDate: l2[21:27], Optional1: trimF(l2[28:42])}
		m.PrimaryName, m.SecondaryName = splitName(l1[5:])
		for _, c := range []struct {
			n, d  string
			digit byte
		}{{"document number", l2[0:9], l2[9]}, {"birth date", l2[13:19], l2[19]}, {"expiry date", l2[21:27], l2[27]},
			{"composite", l2[0:10] + l2[13:20] + l2[21:43], l2[43]}} {
			if err := check(c.n, c.d, c.digit); err != nil {
				return MRZ{}, err
			}
		}
	default:
		return MRZ{}, fmt.Errorf("MRZ of %d characters is neither TD1 (90) nor TD3 (88)", len(s))
	}
	return m, nil
}

func trimF(s string) string { return strings.TrimRight(s, "<") }

func splitName(s string) (string, string) {
	s = trimF(s)
	p, g, _ := strings.Cut(s, "<<")
	return strings.ReplaceAll(p, "<", " "), strings.TrimSpace(strings.ReplaceAll(g, "<", " "))
}
