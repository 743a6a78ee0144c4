package main

// The device drivers this stationd knows, by blank import: each registers
// itself with package devices (database/sql style).
import (
	_ "github.com/openenroll/stationd/devices/camera"
	_ "github.com/openenroll/stationd/devices/fingerprint/zfm"
	_ "github.com/openenroll/stationd/devices/hid"
	_ "github.com/openenroll/stationd/devices/smartcard"
)
