//go:build race

package zfm

const raceEnabled = true
