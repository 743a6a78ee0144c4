//go:build race

package wsq

// raceEnabled: the tests run under the race detector, which makes the
// numerical ones several times slower.
const raceEnabled = true
