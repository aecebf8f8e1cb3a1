package configs

import (
	"time"

	"github.com/outpost-edge/outpost/internal/units"
)

// ByteSize is a size in bytes written with an optional unit, such as
// 512MiB or 64KB; see units.ByteSize, which it names. Component
// configurations may use either name; packages under pipeline/ use
// units.ByteSize, as they do not import configs.
type ByteSize = units.ByteSize

// Rate is a byte rate written as a size per second, such as 64KiB/s; see
// units.Rate, which it names.
type Rate = units.Rate

// Duration is re-exported for documentation: config fields use
// time.Duration directly and are written as Go durations ("200ms", "30s",
// "1h30m").
type Duration = time.Duration
