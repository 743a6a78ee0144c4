package config

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// positions maps dotted key paths of a TOML document to the line they are
// written on. Elements of arrays of tables get their index as a path
// segment: the second [[device]]'s options.baud is "device.1.options.baud".
// It lets errors found after decoding (a driver's options, a bad value that
// passed TOML's type check) still name the line of the file.
type positions map[string]int

func indexPositions(doc []byte) positions {
	pos := positions{}
	arrays := map[string]int{} // array-of-tables path (without indexes) -> elements so far
	var p unstable.Parser
	p.Reset(doc)
	var table []string // current table path, with array indexes resolved
	resolve := func(keys []string) []string {
		// Insert the current index after every prefix that is an array of tables.
		var out, plain []string
		for _, k := range keys {
			plain = append(plain, k)
			out = append(out, k)
			if n, ok := arrays[strings.Join(plain, ".")]; ok {
				out = append(out, strconv.Itoa(n-1))
			}
		}
		return out
	}
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind == unstable.Comment {
			continue
		}
		var keys []string
		line := 0
		it := e.Key()
		for it.Next() {
			n := it.Node()
			keys = append(keys, string(n.Data))
			if line == 0 {
				line = p.Shape(n.Raw).Start.Line
			}
		}
		switch e.Kind {
		case unstable.Table:
			table = resolve(keys)
			pos[strings.Join(table, ".")] = line
		case unstable.ArrayTable:
			arrays[strings.Join(keys, ".")]++
			table = resolve(keys)
			pos[strings.Join(table, ".")] = line
		case unstable.KeyValue:
			full := append(append([]string(nil), table...), keys...)
			pos[strings.Join(full, ".")] = line
		}
	}
	return pos
}

// line returns the line of the longest indexed prefix of path, or 0.
func (p positions) line(path []string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := p[strings.Join(path[:n], ".")]; ok {
			return l
		}
	}
	return 0
}
