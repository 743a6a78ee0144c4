package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `goos: linux
pkg: github.com/openenroll/stationd/capture/wsq
BenchmarkWSQEncode_416x560-2   	      10	  12345678 ns/op	        13.2 ratio	  1024 B/op	       3 allocs/op
BenchmarkPlain   	 1000	  1500 ns/op
PASS
pkg: github.com/openenroll/stationd/devices
--- FAIL: BenchmarkBroken
FAIL	github.com/openenroll/stationd/devices	0.1s
`
	rows, fails := parse(strings.NewReader(in))
	if len(rows) != 2 || rows[0].name != "WSQEncode_416x560" || rows[0].metrics["ratio"] != "13.2" || rows[0].metrics["allocs/op"] != "3" {
		t.Fatalf("rows: %+v", rows)
	}
	if shortPkg(rows[0].pkg) != "capture/wsq" || rows[1].n != "1000" {
		t.Fatalf("rows: %+v", rows)
	}
	if len(fails) != 2 {
		t.Fatalf("failures: %v", fails)
	}
	if human("12345678") != "12.35 ms" || human("1500") != "1.5 µs" {
		t.Fatal(human("12345678"), human("1500"))
	}
}
