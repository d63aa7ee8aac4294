//go:build race

package tests

// raceFlags builds helper binaries (the RIE test's bootstraps) as this test
// binary was built, so that they reuse its compiled packages.
var raceFlags = []string{"-race"}
