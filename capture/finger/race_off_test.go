//go:build !race

package finger

const raceEnabled = false
