//go:build !linux

package hostmetricsreceiver

import (
	"errors"
	"runtime"
)

// statfs is not implemented off Linux: outpost's host metrics read Linux's
// /proc and /sys.
func statfs(string) (fsStat, error) {
	return fsStat{}, errors.New("filesystem scraper: not supported on " + runtime.GOOS)
}
