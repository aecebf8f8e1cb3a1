package main

// Command-line parsing shared by the subcommands that read a configuration
// file, and the `components` and `print-config` commands.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/pipeline"
)

// configFlag is -c / --config. Given twice it is an error: unlike the
// Collector, outpost does not merge configuration files, so that the file
// `validate` checks is the whole configuration `run` runs.
type configFlag struct {
	path string
	set  bool
}

func (c *configFlag) String() string { return c.path }

func (c *configFlag) Set(s string) error {
	if c.set {
		return fmt.Errorf("the configuration file is given twice (%s and %s); outpost reads one file and does not merge", c.path, s)
	}
	c.path, c.set = s, true
	return nil
}

// commandFlags is a flag set for subcommand cmd with -c and --config.
type commandFlags struct {
	*flag.FlagSet
	cmd    string
	config configFlag
}

func newCommandFlags(cmd string) *commandFlags {
	f := &commandFlags{FlagSet: flag.NewFlagSet(cmd, flag.ContinueOnError), cmd: cmd}
	f.config.path = defaultConfigPath
	f.Var(&f.config, "c", "configuration file (default "+defaultConfigPath+")")
	f.Var(&f.config, "config", "same as -c")
	// The flag package's own messages are replaced by parse's.
	f.SetOutput(io.Discard)
	return f
}

// parse parses args and returns the configuration file, and the exit code
// when the command should not go on: 0 after --help (usage on stdout), 2
// after a usage error (message and usage on stderr). A config file given
// as the one bare argument is used as if given with -c; any other bare
// argument is refused.
func (f *commandFlags) parse(args []string, stdout, stderr io.Writer) (string, int, bool) {
	err := f.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		f.printUsage(stdout)
		return "", 0, false
	}
	if err == nil {
		switch rest := f.Args(); {
		case len(rest) == 1 && !f.config.set:
			f.config.path = rest[0]
		case len(rest) > 0 && f.config.set:
			err = fmt.Errorf("unexpected argument %q: the configuration file is already given with -c %s", rest[0], f.config.path)
		case len(rest) > 1:
			err = fmt.Errorf("unexpected arguments %q: give one configuration file, with -c FILE", rest)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "outpost %s: %v\n", f.cmd, err)
		f.printUsage(stderr)
		return "", 2, false
	}
	return f.config.path, 0, true
}

func (f *commandFlags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: outpost %s [-c FILE | --config FILE | FILE] [flags]\n\nflags:\n", f.cmd)
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
}

// printComponents writes every component type this binary has, by kind,
// with the signals each handles. It reads components(), so a component
// added there is listed without more work.
func printComponents(w io.Writer, f pipeline.Factories) {
	section := func(name string, rows map[string]string) {
		fmt.Fprintf(w, "%s:\n", name)
		types := make([]string, 0, len(rows))
		width := 0
		for t := range rows {
			types = append(types, t)
			width = max(width, len(t))
		}
		sort.Strings(types)
		for _, t := range types {
			fmt.Fprintf(w, "  %-*s  %s\n", width, t, rows[t])
		}
	}
	signals := func(ss []pipeline.Signal) string {
		names := make([]string, len(ss))
		for i, s := range ss {
			names[i] = string(s)
		}
		return strings.Join(names, ", ")
	}
	rows := map[string]string{}
	for t, r := range f.Receivers {
		rows[t] = signals(r.Signals)
	}
	section("receivers", rows)
	rows = map[string]string{}
	for t, p := range f.Processors {
		var ss []pipeline.Signal
		for _, s := range pipeline.Signals {
			if p.Supports(s) {
				ss = append(ss, s)
			}
		}
		rows[t] = signals(ss)
	}
	section("processors", rows)
	rows = map[string]string{}
	for t, e := range f.Exporters {
		rows[t] = signals(e.Signals)
	}
	section("exporters", rows)
	rows = map[string]string{}
	for t, c := range f.Connectors {
		var pairs []string
		for _, in := range pipeline.Signals {
			for _, out := range pipeline.Signals {
				if c.Supports(in, out) {
					pairs = append(pairs, string(in)+" -> "+string(out))
				}
			}
		}
		rows[t] = strings.Join(pairs, ", ")
	}
	section("connectors", rows)
	fmt.Fprintln(w, "extensions: none (health, metrics and pprof are served on telemetry.address)")
}

// printConfig writes the effective configuration of path.
func printConfig(path string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(path, stderr)
	if err != nil {
		return 1
	}
	printWarnings(stderr, cfg.Warnings)
	out, err := cfg.Effective()
	if err != nil {
		fmt.Fprintf(stderr, "outpost: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "# effective configuration of %s (config hash %s): defaults filled in, ${env:...} expanded, secrets redacted\n", path, cfg.Hash)
	_, _ = stdout.Write(out)
	return 0
}

func printWarnings(w io.Writer, ws configs.Errors) {
	for _, e := range ws {
		fmt.Fprintf(w, "warning: %s\n", e.Error())
	}
}
