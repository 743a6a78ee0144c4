// Command benchtable reads `go test -bench` output on stdin and prints one
// table: a row per benchmark with its time per operation, memory, and every
// custom metric the benchmark reported (efficiency, fps, ratio, psnr_dB...).
// It exits 1 when the output shows a failure, after printing what it has.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

type row struct {
	pkg, name string
	n         string
	metrics   map[string]string
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

func parse(r io.Reader) (rows []row, failures []string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	pkg := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
		case strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "panic:"):
			failures = append(failures, line)
		default:
			m := benchLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			f := strings.Fields(m[3])
			rw := row{pkg: pkg, name: strings.TrimPrefix(m[1], "Benchmark"), n: m[2], metrics: map[string]string{}}
			for i := 0; i+1 < len(f); i += 2 {
				rw.metrics[f[i+1]] = f[i]
			}
			rows = append(rows, rw)
		}
	}
	return rows, failures
}

// human writes ns/op in the unit a reader compares at a glance.
func human(ns string) string {
	v, err := strconv.ParseFloat(ns, 64)
	if err != nil {
		return ns
	}
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2f s", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f µs", v/1e3)
	}
	return fmt.Sprintf("%.0f ns", v)
}

func shortPkg(p string) string {
	if i := strings.Index(p, "/stationd/"); i >= 0 {
		return p[i+len("/stationd/"):]
	}
	return p
}

func main() {
	rows, failures := parse(os.Stdin)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "package\tbenchmark\tn\ttime/op\tB/op\tallocs/op\tother metrics")
	for _, r := range rows {
		var extra []string
		for k, v := range r.metrics {
			switch k {
			case "ns/op", "B/op", "allocs/op":
			default:
				extra = append(extra, v+" "+k)
			}
		}
		sort.Strings(extra)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", shortPkg(r.pkg), r.name, r.n, human(r.metrics["ns/op"]),
			dash(r.metrics["B/op"]), dash(r.metrics["allocs/op"]), strings.Join(extra, ", "))
	}
	w.Flush()
	if len(rows) == 0 {
		fmt.Println("(no benchmarks ran)")
	}
	if len(failures) > 0 {
		fmt.Println("\nfailures:")
		for _, f := range failures {
			fmt.Println("  " + f)
		}
		os.Exit(1)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
