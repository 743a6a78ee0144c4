package lds

import (
	"fmt"
	"slices"
)

// Data group file tags (ICAO 9303 p10 §4.6.1, Table 34).
var dgTags = map[int]uint32{1: 0x61, 2: 0x75, 3: 0x63, 4: 0x76, 5: 0x65, 6: 0x66, 7: 0x67, 8: 0x68,
	9: 0x69, 10: 0x6A, 11: 0x6B, 12: 0x6C, 13: 0x6D, 14: 0x6E, 15: 0x6F, 16: 0x70}

// DGTag returns the file tag of data group n (0 if n is not 1..16).
func DGTag(n int) uint32 { return dgTags[n] }

// DGNumber returns the data group number for a file tag (0 if none).
func DGNumber(tag uint32) int {
	for n, t := range dgTags {
		if t == tag {
			return n
		}
	}
	return 0
}

// COM is EF.COM: LDS version, Unicode version and the data groups present.
type COM struct {
	LDSVersion     string // "0107" = LDS 1.7
	UnicodeVersion string // "040000"
	DataGroups     []int  // sorted
}

// EncodeCOM builds EF.COM (tag 60; 5F01, 5F36, 5C).
func EncodeCOM(c COM) []byte {
	var tags []byte
	dgs := slices.Clone(c.DataGroups)
	slices.Sort(dgs)
	for _, n := range dgs {
		tags = append(tags, byte(dgTags[n]))
	}
	return EncodeTLV(0x60, cat(EncodeTLV(0x5F01, []byte(c.LDSVersion)), EncodeTLV(0x5F36, []byte(c.UnicodeVersion)), EncodeTLV(0x5C, tags)))
}

// ParseCOM reads EF.COM.
func ParseCOM(b []byte) (COM, error) {
	f, err := parseFile(b, 0x60, "EF.COM")
	if err != nil {
		return COM{}, err
	}
	kids, err := f.Children()
	if err != nil {
		return COM{}, fmt.Errorf("EF.COM: %w", err)
	}
	var c COM
	if v, ok := Find(kids, 0x5F01); ok {
		c.LDSVersion = string(v.Value)
	}
	if v, ok := Find(kids, 0x5F36); ok {
		c.UnicodeVersion = string(v.Value)
	}
	list, ok := Find(kids, 0x5C)
	if !ok {
		return COM{}, fmt.Errorf("EF.COM: tag list 5C missing")
	}
	for i, t := range list.Value {
		n := DGNumber(uint32(t))
		if n == 0 {
			return COM{}, fmt.Errorf("EF.COM: tag list entry %d (%02X) is not a data group tag", i, t)
		}
		c.DataGroups = append(c.DataGroups, n)
	}
	slices.Sort(c.DataGroups)
	return c, nil
}
