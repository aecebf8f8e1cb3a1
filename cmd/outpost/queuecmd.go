package main

// Queues on disk that no exporter owns: the report at start and reload,
// and the `outpost queue ls` and `outpost queue adopt` commands.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/exporters/lokiexporter"
	"github.com/outpost-edge/outpost/exporters/prometheusremotewriteexporter"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/queue"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// orphanLabel is the owner `queue ls` prints for a queue no configured
// exporter owns.
const orphanLabel = "orphaned"

// wireEncodings lists, by exporter type, the record encodings its sender
// can deliver. A record keeps the encoding its exporter wrote it in and is
// sent as stored (sender.Request), so a backlog may move only to an
// exporter that speaks its encoding for its signal.
var wireEncodings = map[string][]sender.Encoding{
	"otlp":                  {sender.EncodingProto}, // gRPC takes protobuf only
	"otlphttp":              {sender.EncodingProto, sender.EncodingJSON},
	"jaeger":                {sender.EncodingProto},
	"loki":                  {lokiexporter.EncodingPush},
	"prometheusremotewrite": {prometheusremotewriteexporter.EncodingRW1},
}

// ownedQueues maps the directory (absolute) of every disk queue of cfg to
// the exporter that owns it: an exporter that a pipeline uses and whose
// configuration keeps a disk queue.
func ownedQueues(cfg *configs.Config) map[string]pipeline.ID {
	root := absPath(cfg.Storage.Directory)
	owned := map[string]pipeline.ID{}
	for _, pc := range cfg.Graph.Pipelines {
		for _, id := range pc.Exporters {
			if u, ok := cfg.Graph.Exporters[id].(pipeline.StorageUser); ok && u.StorageBytes() > 0 {
				owned[pipeline.StorageDir(root, "exporter", id)] = id
			}
		}
	}
	return owned
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}

// queueDirs lists the queue directories directly under root, sorted. A
// missing root holds none.
func queueDirs(root string) ([]string, error) {
	root = absPath(root)
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage.directory: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if e.IsDir() && queue.IsQueueDir(nil, dir) {
			dirs = append(dirs, dir)
		}
	}
	return dirs, nil
}

// reportOrphans sets outpost_queue_orphaned_bytes, and logs a WARN, for
// every queue directory under storage.directory that holds records and
// that no exporter of cfg owns: nothing sends them, and without this they
// would sit on disk unseen (a renamed or removed exporter).
func (s *service) reportOrphans(cfg *configs.Config) {
	s.tel.QueueOrphanedBytes.Reset()
	dirs, err := queueDirs(cfg.Storage.Directory)
	if err != nil {
		s.logger.Warn("cannot look for orphaned queues", "error", err)
		return
	}
	owned := ownedQueues(cfg)
	for _, dir := range dirs {
		if _, ok := owned[dir]; ok {
			continue
		}
		info, err := queue.Inspect(nil, dir)
		if err != nil {
			s.logger.Warn("cannot read an orphaned queue directory", "directory", dir, "error", err)
			continue
		}
		t := info.Total()
		if t.Records == 0 {
			continue
		}
		s.tel.QueueOrphanedBytes.WithLabelValues(dir).Set(float64(t.Bytes))
		s.logger.Warn("a queue directory holds a backlog that no configured exporter owns; nothing sends it",
			"directory", dir, "records", t.Records, "items", t.Items, "bytes", t.Bytes,
			"oldest", t.Oldest.UTC().Format(time.RFC3339),
			"recover", fmt.Sprintf("stop outpost, run `outpost queue adopt -c %s --from %s --to EXPORTER_ID`, start outpost (or restore the exporter's old ID)", s.opts.configPath, dir))
	}
}

// queueMain runs `outpost queue ls|adopt`.
func queueMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, queueUsage)
		return 2
	}
	switch args[0] {
	case "ls":
		return queueLs(args[1:], stdout, stderr)
	case "adopt":
		return queueAdopt(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, queueUsage)
		return 0
	}
	fmt.Fprintf(stderr, "outpost queue: unknown command %q\n", args[0])
	fmt.Fprint(stderr, queueUsage)
	return 2
}

const queueUsage = `usage:
  outpost queue ls -c FILE | --dir DIR
      every queue under storage.directory (or DIR): owner (the configured
      exporter, or "orphaned"), records, items, bytes, oldest age, lanes
  outpost queue adopt -c FILE --from DIR --to EXPORTER_ID
      offline (outpost stopped): move the backlog of the queue in DIR (a
      path, or a name under storage.directory) to the end of EXPORTER_ID's
      disk queue, keeping lanes and order; refused if EXPORTER_ID cannot
      send its records' wire format
`

func queueLs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("queue ls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "configuration file (its storage.directory, and the owners)")
	fs.StringVar(path, "config", "", "same as -c")
	dir := fs.String("dir", "", "storage directory to list, without a configuration (owners unknown)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*path == "") == (*dir == "") {
		fmt.Fprintln(stderr, "outpost queue ls: give exactly one of -c FILE or --dir DIR")
		return 2
	}
	root := *dir
	var owned map[string]pipeline.ID
	if *path != "" {
		cfg, err := loadConfig(*path, stderr)
		if err != nil {
			return 1
		}
		root, owned = cfg.Storage.Directory, ownedQueues(cfg)
	}
	dirs, err := queueDirs(root)
	if err != nil {
		fmt.Fprintf(stderr, "outpost: %v\n", err)
		return 1
	}
	// A configured exporter whose queue has not been created yet has
	// nothing to list.
	fmt.Fprintf(stdout, "storage directory %s: %d queue(s)\n", absPath(root), len(dirs))
	if len(dirs) == 0 {
		return 0
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tOWNER\tRECORDS\tITEMS\tBYTES\tOLDEST\tHIGH\tNORMAL\tLOW\tFORMATS")
	code := 0
	for _, d := range dirs {
		owner := "-" // --dir: no configuration to say who owns it
		if owned != nil {
			owner = orphanLabel
			if id, ok := owned[d]; ok {
				owner = id.String()
			}
		}
		info, err := queue.Inspect(nil, d)
		if err != nil {
			fmt.Fprintf(stderr, "outpost: %v\n", err)
			code = 1
			continue
		}
		t := info.Total()
		lanes := make([]string, queue.NumLanes)
		for i, l := range info.Lanes {
			lanes[i] = fmt.Sprintf("%d/%d", l.Records, l.Items)
		}
		var formats []string
		for _, f := range info.Formats {
			formats = append(formats, f.Signal+"/"+f.Encoding)
		}
		if len(formats) == 0 {
			formats = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", filepath.Base(d), owner,
			t.Records, t.Items, t.Bytes, age(now, t.Oldest), lanes[0], lanes[1], lanes[2], strings.Join(formats, ","))
	}
	tw.Flush()
	fmt.Fprintln(stdout, "(lanes: records/items waiting; BYTES: the segment files on disk, which may still hold acknowledged records before the cursor)")
	return code
}

// age is now - t rounded to seconds, or "-" for the zero time.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return max(now.Sub(t), 0).Round(time.Second).String()
}

func queueAdopt(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("queue adopt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", defaultConfigPath, "configuration file")
	fs.StringVar(path, "config", defaultConfigPath, "same as -c")
	from := fs.String("from", "", "the queue directory whose backlog moves: a path, or a name under storage.directory")
	to := fs.String("to", "", "the exporter ID (as in the configuration) whose disk queue takes the backlog")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from == "" || *to == "" {
		fmt.Fprintln(stderr, "outpost queue adopt: --from DIR and --to EXPORTER_ID are required")
		return 2
	}
	cfg, err := loadConfig(*path, stderr)
	if err != nil {
		return 1
	}
	res, target, err := adopt(cfg, components(), *from, *to)
	if err != nil {
		fmt.Fprintf(stderr, "outpost: %v\n", err)
		return 1
	}
	t := res.Moved.Total()
	fmt.Fprintf(stdout, "adopted %d records (%d items, %d bytes) from %s into exporter %s (%s)\n",
		t.Records, t.Items, t.Bytes, res.Moved.Dir, *to, target)
	for i, l := range res.Moved.Lanes {
		fmt.Fprintf(stdout, "  lane %s: %d records, %d items\n", queue.Lane(i), l.Records, l.Items)
	}
	if res.Removed {
		fmt.Fprintf(stdout, "removed %s\n", res.Moved.Dir)
	} else {
		fmt.Fprintf(stdout, "kept %s: it holds set-aside (damaged) segments, which are never moved; remove it when they are no longer needed\n", res.Moved.Dir)
	}
	if limit := cfg.Graph.Exporters[mustID(*to)].(pipeline.StorageUser).StorageBytes(); limit > 0 {
		if info, err := queue.Inspect(nil, target); err == nil && info.Total().Bytes > limit {
			fmt.Fprintf(stdout, "note: the queue of %s now holds %d bytes, more than its max_bytes of %d: until it drains below that, new data is refused (block) or the oldest is dropped (drop_oldest)\n", *to, info.Total().Bytes, limit)
		}
	}
	return 0
}

func mustID(s string) pipeline.ID {
	id, _ := pipeline.ParseID(s)
	return id
}

// adopt moves the backlog of the queue in from to the disk queue of the
// exporter to of cfg, and returns what moved and the target's directory.
func adopt(cfg *configs.Config, factories pipeline.Factories, from, to string) (queue.AdoptResult, string, error) {
	id, err := pipeline.ParseID(to)
	if err != nil {
		return queue.AdoptResult{}, "", fmt.Errorf("--to: %w", err)
	}
	if _, ok := cfg.Graph.Exporters[id]; !ok {
		return queue.AdoptResult{}, "", fmt.Errorf("--to: exporter %s is not configured in %s", id, cfg.Path)
	}
	var target string
	for dir, owner := range ownedQueues(cfg) {
		if owner == id {
			target = dir
		}
	}
	if target == "" {
		return queue.AdoptResult{}, "", fmt.Errorf("--to: exporter %s has no disk queue in %s (its type has no queue, it is in no pipeline, or its queue is disabled or in memory)", id, cfg.Path)
	}
	src := from
	if !strings.ContainsRune(from, filepath.Separator) {
		src = filepath.Join(cfg.Storage.Directory, from)
	}
	f := factories.Exporters[id.Type]
	encodings := wireEncodings[id.Type]
	check := func(info queue.Info) error {
		for _, w := range info.Formats {
			sig, err := pipeline.ParseSignal(w.Signal)
			if err != nil || !slices.Contains(f.Signals, sig) {
				return fmt.Errorf("refused: %s holds %s records, which exporter %s does not export", info.Dir, strconv.Quote(w.Signal), id)
			}
			if !slices.Contains(encodings, sender.Encoding(w.Encoding)) {
				return fmt.Errorf("refused: %s holds %s records in wire format %q, which exporter %s (type %s) cannot send; adopt them into an exporter of the type that wrote them", info.Dir, w.Signal, w.Encoding, id, id.Type)
			}
		}
		return nil
	}
	res, err := queue.Adopt(queue.AdoptOptions{From: src, To: target, Check: check})
	if errors.Is(err, queue.ErrLocked) {
		err = fmt.Errorf("%w (outpost is running with this queue: stop it first; adopt works offline)", err)
	}
	return res, target, err
}

// loadConfig loads path, printing its errors.
func loadConfig(path string, stderr io.Writer) (*configs.Config, error) {
	cfg, err := configs.Load(path, components())
	if err != nil {
		var es configs.Errors
		if errors.As(err, &es) {
			printErrors(stderr, es)
		} else {
			fmt.Fprintf(stderr, "outpost: %v\n", err)
		}
		return nil, err
	}
	return cfg, nil
}
