// Command outpost is the edge telemetry collector.
//
//	outpost run [-c FILE]       run the pipelines in FILE (default configs/default.yaml)
//	outpost validate -c FILE    check FILE as run would, print every error found, exit 1 on any
//	outpost print-config -c FILE  print FILE's effective configuration (defaults, expansion, secrets redacted)
//	outpost components          list the component types of this binary
//	outpost version             print the version
//
// FILE is given as -c FILE, --config FILE, --config=FILE or as the one bare
// argument; given twice it is an error (files are not merged).
//
//	outpost queue ls|adopt      list the queues on disk; move an orphaned backlog (see queuecmd.go)
//
// SIGTERM and SIGINT drain the pipelines and exit 0; SIGHUP (or a change to
// the config file) reloads the configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/outpost-edge/outpost/configs"
)

// Set by the linker: -X main.version=... -X main.revision=...
var (
	version  = "dev"
	revision = "unknown"
)

const defaultConfigPath = "configs/default.yaml"

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: outpost <command> [flags]

commands:
  run [-c FILE]        run the pipelines in FILE (default `+defaultConfigPath+`)
  validate [-c FILE]   check FILE as run would (syntax, keys, values, files it
                       reads, ports, memory); print every error found, exit 1 if any
  print-config [-c FILE]
                       print the effective configuration: defaults filled in,
                       ${env:...} expanded, secrets redacted
  components           list the receivers, processors, exporters and connectors
                       of this binary
  version              print version and revision

  FILE: -c FILE, --config FILE, --config=FILE, or the one bare argument.
  Each command takes --help.
  queue ls -c FILE     list the queues under storage.directory, their backlog and owner
  queue adopt -c FILE --from DIR --to EXPORTER_ID
                       offline: move a queue's backlog to an exporter's queue
`)
}

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "outpost %s (revision %s)\n", version, revision)
		return 0
	case "validate":
		fs := newCommandFlags("validate")
		path, code, ok := fs.parse(rest, stdout, stderr)
		if !ok {
			return code
		}
		return validate(path, stdout, stderr)
	case "print-config":
		fs := newCommandFlags("print-config")
		path, code, ok := fs.parse(rest, stdout, stderr)
		if !ok {
			return code
		}
		return printConfig(path, stdout, stderr)
	case "components":
		if len(rest) > 0 && rest[0] != "-h" && rest[0] != "--help" {
			fmt.Fprintf(stderr, "outpost components: unexpected argument %q\n", rest[0])
			return 2
		}
		printComponents(stdout, components())
		return 0
	case "run":
		fs := newCommandFlags("run")
		shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long draining may take on exit")
		watch := fs.Duration("watch-interval", 5*time.Second, "how often to check the config file for changes (0 disables; SIGHUP always reloads)")
		path, code, ok := fs.parse(rest, stdout, stderr)
		if !ok {
			return code
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		err := run(ctx, runOptions{
			configPath:      path,
			shutdownTimeout: *shutdownTimeout,
			watchInterval:   *watch,
			reload:          hup,
			stderr:          stderr,
		})
		if err != nil {
			var es configs.Errors
			if errors.As(err, &es) {
				printErrors(stderr, es)
			} else {
				fmt.Fprintf(stderr, "outpost: %v\n", err)
			}
			return 1
		}
		return 0
	case "queue":
		return queueMain(rest, stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "outpost: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func validate(path string, stdout, stderr io.Writer) int {
	cfg, err := configs.Load(path, components())
	if err != nil {
		var es configs.Errors
		if errors.As(err, &es) {
			printErrors(stderr, es)
			fmt.Fprintf(stderr, "%s: %d error(s)\n", path, len(es))
		} else {
			fmt.Fprintf(stderr, "outpost: %v\n", err)
		}
		return 1
	}
	printWarnings(stderr, cfg.Warnings)
	if err := checkStorageDir(cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid (%d pipelines, config hash %s)\n", path, len(cfg.Graph.Pipelines), cfg.Hash)
	return 0
}

func printErrors(w io.Writer, es configs.Errors) {
	for _, e := range es {
		fmt.Fprintln(w, e.Error())
	}
}
