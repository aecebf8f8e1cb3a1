//go:build race

package lanes

// raceEnabled: the race detector makes allocation counts unreliable
// (sync.Pool drops items at random under it).
const raceEnabled = true
