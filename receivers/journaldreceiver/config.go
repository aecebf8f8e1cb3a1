package journaldreceiver

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Values of start_at.
const (
	StartAtBeginning = "beginning"
	StartAtEnd       = "end"
)

// Priorities journalctl takes, most severe first (syslog(3) keywords).
var priorities = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// Config configures a journald receiver. The keys are those of the
// OpenTelemetry Collector's journald receiver, plus journalctl_path.
type Config struct {
	// Directory reads the journal files of this directory
	// (journalctl --directory) instead of the system journal.
	Directory string `yaml:"directory"`
	// Files reads these journal files (journalctl --file), instead of the
	// system journal. At most one of directory and files.
	Files []string `yaml:"files"`
	// Units keeps entries of these systemd units (journalctl --unit, each
	// one).
	Units []string `yaml:"units"`
	// Identifiers keeps entries of these syslog identifiers
	// (journalctl --identifier, each one).
	Identifiers []string `yaml:"identifiers"`
	// Priority keeps entries of this priority and more severe
	// (journalctl --priority): emerg, alert, crit, err, warning, notice,
	// info (default) or debug.
	Priority string `yaml:"priority"`
	// Matches keeps entries that match one of the maps, an entry matching
	// a map when it has every FIELD=value of it (journalctl's matches,
	// maps joined with "+").
	Matches []map[string]string `yaml:"matches"`
	// StartAt is where to begin when no cursor is stored: beginning (every
	// entry the journal holds) or end (default: only new entries). Once an
	// entry has been acknowledged, the receiver resumes after the stored
	// cursor whatever start_at says.
	StartAt string `yaml:"start_at"`
	// JournalctlPath is the journalctl binary. Default "journalctl" (from
	// PATH).
	JournalctlPath string `yaml:"journalctl_path"`
}

func createDefaultConfig() *Config {
	return &Config{Priority: "info", StartAt: StartAtEnd, JournalctlPath: "journalctl"}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Directory != "" && len(c.Files) > 0 {
		errs = append(errs, errors.New("directory, files: set at most one"))
	}
	for i, f := range c.Files {
		if f == "" {
			errs = append(errs, fmt.Errorf("files[%d]: empty path", i))
		}
	}
	if !slices.Contains(priorities, c.Priority) {
		errs = append(errs, fmt.Errorf("priority: want one of %s (got %q)", strings.Join(priorities, ", "), c.Priority))
	}
	if c.StartAt != StartAtBeginning && c.StartAt != StartAtEnd {
		errs = append(errs, fmt.Errorf("start_at: want beginning or end (got %q)", c.StartAt))
	}
	if c.JournalctlPath == "" {
		errs = append(errs, errors.New("journalctl_path: required"))
	}
	for i, m := range c.Matches {
		if len(m) == 0 {
			errs = append(errs, fmt.Errorf("matches[%d]: empty", i))
		}
		for k := range m {
			if !validField(k) {
				errs = append(errs, fmt.Errorf("matches[%d]: invalid field name %q (want A-Z, 0-9 and _, not starting with a digit)", i, k))
			}
		}
	}
	for i, u := range c.Units {
		if u == "" {
			errs = append(errs, fmt.Errorf("units[%d]: empty", i))
		}
	}
	for i, u := range c.Identifiers {
		if u == "" {
			errs = append(errs, fmt.Errorf("identifiers[%d]: empty", i))
		}
	}
	return errors.Join(errs...)
}

// validField reports whether k is a journal field name as journald
// accepts it in a match.
func validField(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// args is journalctl's command line for cfg, resuming after cursor when it
// is not empty. Paths are made absolute: journalctl cannot follow a
// --file given relative.
func (c *Config) args(cursor string) ([]string, error) {
	a := []string{"--output=json", "--follow", "--no-pager", "--all", "--quiet", "--priority=" + c.Priority}
	if c.Directory != "" {
		d, err := filepath.Abs(c.Directory)
		if err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		a = append(a, "--directory="+d)
	}
	for _, f := range c.Files {
		p, err := filepath.Abs(f)
		if err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
		a = append(a, "--file="+p)
	}
	for _, u := range c.Units {
		a = append(a, "--unit="+u)
	}
	for _, id := range c.Identifiers {
		a = append(a, "--identifier="+id)
	}
	switch {
	case cursor != "":
		// --follow alone implies --lines=10, which, with more than ten
		// entries after the cursor, makes journalctl print none of them.
		a = append(a, "--after-cursor="+cursor, "--no-tail")
	case c.StartAt == StartAtBeginning:
		a = append(a, "--no-tail")
	default:
		a = append(a, "--lines=0")
	}
	for i, m := range c.Matches {
		if i > 0 {
			a = append(a, "+")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			a = append(a, k+"="+m[k])
		}
	}
	return a, nil
}
