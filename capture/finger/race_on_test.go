//go:build race

package finger

// raceEnabled: the race detector slows this pure, single-goroutine numeric
// code about tenfold without anything to find in it; the heaviest
// data-driven tests thin their inputs under -race.
const raceEnabled = true
