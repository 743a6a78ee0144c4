package lds

import (
	"encoding/asn1"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"
)

// CCCD is the Vietnamese citizen identity card's DG13 (optional details).
// Its layout is not in ICAO 9303: this follows the publicly described
// profile of the card (a sequence of [field number, UTF-8 value] pairs
// inside tag 6D). Field numbers:
//
//	1 ID number, 2 full name, 3 birth date, 4 sex, 5 nationality,
//	6 ethnicity, 7 religion, 8 place of origin, 9 place of residence,
//	10 identification marks, 11 issue date, 12 expiry date,
//	13 parents (father, mother), 14 spouse, 15 old ID number (CMND)
//
// Unknown field numbers are kept in Other so that nothing a card holds is
// silently dropped.
type CCCD struct {
	IDNumber      string           `json:"id_number"`
	FullName      string           `json:"full_name"`
	BirthDate     string           `json:"birth_date"` // as printed, DD/MM/YYYY
	Sex           string           `json:"sex"`
	Nationality   string           `json:"nationality"`
	Ethnicity     string           `json:"ethnicity"`
	Religion      string           `json:"religion"`
	PlaceOfOrigin string           `json:"place_of_origin"`
	Residence     string           `json:"residence"`
	Marks         string           `json:"marks"`
	IssueDate     string           `json:"issue_date"`
	ExpiryDate    string           `json:"expiry_date"`
	FatherName    string           `json:"father_name"`
	MotherName    string           `json:"mother_name"`
	SpouseName    string           `json:"spouse_name,omitempty"`
	OldIDNumber   string           `json:"old_id_number,omitempty"`
	Other         map[int][]string `json:"other,omitempty"`
}

func (c *CCCD) fields() [][]string {
	f := make([][]string, 16)
	f[1], f[2], f[3], f[4] = []string{c.IDNumber}, []string{c.FullName}, []string{c.BirthDate}, []string{c.Sex}
	f[5], f[6], f[7], f[8] = []string{c.Nationality}, []string{c.Ethnicity}, []string{c.Religion}, []string{c.PlaceOfOrigin}
	f[9], f[10], f[11], f[12] = []string{c.Residence}, []string{c.Marks}, []string{c.IssueDate}, []string{c.ExpiryDate}
	f[13] = []string{c.FatherName, c.MotherName}
	f[14], f[15] = []string{c.SpouseName}, []string{c.OldIDNumber}
	return f
}

// EncodeDG13 builds DG13: 6D { SEQUENCE { INTEGER n, UTF8String value... }
// for each field }, in field-number order.
func EncodeDG13(c CCCD) ([]byte, error) {
	var body []byte
	for n, vals := range c.fields() {
		if n == 0 {
			continue
		}
		enc, err := encodeEntry(n, vals)
		if err != nil {
			return nil, err
		}
		body = append(body, enc...)
	}
	for _, n := range slices.Sorted(maps.Keys(c.Other)) {
		vals := c.Other[n]
		enc, err := encodeEntry(n, vals)
		if err != nil {
			return nil, err
		}
		body = append(body, enc...)
	}
	return EncodeTLV(0x6D, body), nil
}

func encodeEntry(n int, vals []string) ([]byte, error) {
	inner, _ := asn1.Marshal(n)
	for _, v := range vals {
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("DG13 field %d is not valid UTF-8", n)
		}
		s, err := asn1.MarshalWithParams(v, "utf8")
		if err != nil {
			return nil, err
		}
		inner = append(inner, s...)
	}
	return EncodeTLV(0x30, inner), nil
}

// ParseDG13 reads the CCCD profile.
func ParseDG13(b []byte) (CCCD, error) {
	f, err := parseFile(b, 0x6D, "DG13")
	if err != nil {
		return CCCD{}, err
	}
	entries, err := f.Children()
	if err != nil {
		return CCCD{}, fmt.Errorf("DG13: %w", err)
	}
	var c CCCD
	for _, e := range entries {
		if e.Tag != 0x30 {
			return CCCD{}, fmt.Errorf("DG13 offset %d: entry tag %X, want SEQUENCE 30", e.Offset, e.Tag)
		}
		parts, err := e.Children()
		if err != nil {
			return CCCD{}, fmt.Errorf("DG13: %w", err)
		}
		if len(parts) == 0 || parts[0].Tag != 0x02 || len(parts[0].Value) != 1 {
			return CCCD{}, fmt.Errorf("DG13 offset %d: entry does not start with a one-byte field number", e.Offset)
		}
		n := int(parts[0].Value[0])
		var vals []string
		for _, p := range parts[1:] {
			switch p.Tag {
			case 0x0C, 0x13, 0x16: // UTF8String, PrintableString, IA5String
				if !utf8.Valid(p.Value) {
					return CCCD{}, fmt.Errorf("DG13 offset %d: field %d is not valid UTF-8", p.Offset, n)
				}
				vals = append(vals, string(p.Value))
			case 0x30: // some cards nest each parent's name in its own SEQUENCE
				sub, err := p.Children()
				if err != nil {
					return CCCD{}, fmt.Errorf("DG13: %w", err)
				}
				for _, s := range sub {
					if utf8.Valid(s.Value) && (s.Tag == 0x0C || s.Tag == 0x13) {
						vals = append(vals, string(s.Value))
					}
				}
			default:
				return CCCD{}, fmt.Errorf("DG13 offset %d: field %d has value of tag %X, want a string", p.Offset, n, p.Tag)
			}
		}
		c.set(n, vals)
	}
	return c, nil
}

func (c *CCCD) set(n int, v []string) {
	one := ""
	if len(v) > 0 {
		one = v[0]
	}
	switch n {
	case 1:
		c.IDNumber = one
	case 2:
		c.FullName = one
	case 3:
		c.BirthDate = one
	case 4:
		c.Sex = one
	case 5:
		c.Nationality = one
	case 6:
		c.Ethnicity = one
	case 7:
		c.Religion = one
	case 8:
		c.PlaceOfOrigin = one
	case 9:
		c.Residence = one
	case 10:
		c.Marks = one
	case 11:
		c.IssueDate = one
	case 12:
		c.ExpiryDate = one
	case 13:
		c.FatherName = one
		if len(v) > 1 {
			c.MotherName = v[1]
		}
	case 14:
		c.SpouseName = one
	case 15:
		c.OldIDNumber = one
	default:
		if c.Other == nil {
			c.Other = map[int][]string{}
		}
		c.Other[n] = v
	}
}
