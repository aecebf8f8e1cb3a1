package main

// Acceptance tests of the filelog receiver (issue 11, points 1 and 2): the
// real binary tails files that a test writer appends to while Debian's
// logrotate rotates them, is killed with SIGKILL at random moments, and
// forwards through its disk queue to an OTLP sink that counts every line.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// filelogBatch is the receiver's max_batch_size in these tests, and the
// exporter queue's request size: what one kill may deliver twice from
// each of the two.
const filelogBatch = 200

// filelogConfig tails dir/app.log* into an OTLP exporter with a disk queue
// (queue is the YAML flow mapping body of the queue).
func filelogConfig(o *outpost, dir, sink, queue string) string {
	return testutil.Sprintf(`storage: {directory: %s}
telemetry: {address: %s}
node: {name: filelog-e2e}
receivers:
  filelog:
    include: [%s]
    start_at: beginning
    poll_interval: 50ms
    max_batch_size: %d
    include_file_path: true
exporters:
  otlp:
    endpoint: %s
    tls: {insecure: true}
    timeout: 2s
    retry_on_failure: {initial_interval: 50ms, max_interval: 250ms}
    queue: {%s, batch: {min_size: %d, max_size: %d, flush_timeout: 50ms}}
service:
  pipelines:
    logs: {receivers: [filelog], exporters: [otlp]}
`, filepath.Join(filepath.Dir(o.config), "data"), o.telemetry, filepath.Join(dir, "app.log*"), filelogBatch, sink, queue, filelogBatch, filelogBatch)
}

// lineWriter appends numbered lines to dir/app.log the way an application
// does: open with O_APPEND, write whole lines, close; so after a rotation
// by rename it writes the new file.
type lineWriter struct {
	path string
	mu   sync.Mutex // held while writing; copytruncate rotations take it
	next int
	err  error
}

var seqLine = regexp.MustCompile(`^seq=(\d+) `)

func (w *lineWriter) write(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		w.err = err
		return
	}
	defer f.Close()
	buf := make([]byte, 0, n*80)
	for range n {
		// The pad does not compress, so that the queue's bytes are real.
		buf = fmt.Appendf(buf, "seq=%08d level=info msg=\"a line written by the test writer\" pad=%016x%016x\n", w.next, rand.Uint64(), rand.Uint64())
		w.next++
	}
	if _, err := f.Write(buf); err != nil {
		w.err = err
	}
}

func (w *lineWriter) written() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}

// run writes burst lines every interval until ctx ends.
func (w *lineWriter) run(ctx context.Context, burst int, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.write(burst)
		}
	}
}

// debianBinary locates a binary of a Debian package the tests install
// (tools/deps/apt-packages.txt): skipped when missing, failed under CI.
func debianBinary(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found: `make apt-deps` must install it", path)
		}
		t.Skipf("%s not found: run `make apt-deps`", path)
	}
	return path
}

// logrotate runs Debian's logrotate once, forced, on path with the given
// mode (create or copytruncate), with its config and state in dir.
func logrotate(t *testing.T, bin, dir, path, mode string) error {
	conf := filepath.Join(dir, "logrotate-"+mode+".conf")
	if _, err := os.Stat(conf); err != nil {
		body := fmt.Sprintf("%s {\n  rotate 1000\n  %s\n  missingok\n  nocompress\n}\n", path, mode)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			return err
		}
	}
	out, err := exec.Command(bin, "-f", "-s", filepath.Join(dir, "logrotate.state"), conf).CombinedOutput()
	if err != nil {
		return fmt.Errorf("logrotate %s: %w: %s", mode, err, out)
	}
	return nil
}

// sinkSeqs counts the lines the sink received by their seq number.
func sinkSeqs(t *testing.T, sink *otlpsink.Sink) (seen map[int]int, total int) {
	t.Helper()
	seen = map[int]int{}
	for _, ld := range sink.Logs() {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					m := seqLine.FindStringSubmatch(lrs.At(k).Body().Str())
					if m == nil {
						t.Errorf("unexpected line %q", lrs.At(k).Body().Str())
						continue
					}
					n, _ := strconv.Atoi(m[1])
					seen[n]++
					total++
				}
			}
		}
	}
	return seen, total
}

func lineAccount(seen map[int]int, written int) (lost []int, dups int) {
	for i := range written {
		if seen[i] == 0 {
			lost = append(lost, i)
		}
	}
	for _, n := range seen {
		dups += max(n-1, 0)
	}
	return lost, dups
}

// TestFilelogRotationKillNine: a writer appends 2000 lines/s while
// logrotate rotates the file every 300 ms, by rename and create for the
// first five kills and by copytruncate for the last five; outpost is
// killed with SIGKILL ten times at random moments and restarted once
// gracefully mid-file. Every written line reaches the sink; duplicates
// stay within one tailer batch plus one queue request per kill.
func TestFilelogRotationKillNine(t *testing.T) {
	rotateBin := debianBinary(t, "/usr/sbin/logrotate")
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 22})
	o := newOutpost(t)
	dir := t.TempDir()
	w := &lineWriter{path: filepath.Join(dir, "app.log")}
	w.write(500) // a file to start from
	o.start(t, filelogConfig(o, dir, sink.GRPCAddr(), "kind: disk, fsync: interval, fsync_interval: 200ms"))

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.run(ctx, 20, 10*time.Millisecond) })
	var rotations [2]int
	var rotMu sync.Mutex
	copytruncate := false
	rotateErr := make(chan error, 1)
	wg.Go(func() {
		tk := time.NewTicker(300 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			rotMu.Lock()
			ct := copytruncate
			rotMu.Unlock()
			var err error
			if ct {
				// Lines written between logrotate's copy and its truncate
				// are lost to any tailer: no process can read them. The
				// writer is held off for the rotation, as an application
				// that is told to pause (or one that reopens its file on
				// SIGHUP, which needs no copytruncate) would be.
				w.mu.Lock()
				err = logrotate(t, rotateBin, dir, w.path, "copytruncate")
				w.mu.Unlock()
				rotations[1]++
			} else {
				err = logrotate(t, rotateBin, dir, w.path, "create")
				rotations[0]++
			}
			if err != nil {
				select {
				case rotateErr <- err:
				default:
				}
				return
			}
		}
	})

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 11))
	t.Logf("kill points from seed %d", seed)
	const kills = 10
	for i := range kills {
		if i == kills/2 {
			rotMu.Lock()
			copytruncate = true
			rotMu.Unlock()
		}
		after := time.Duration(150+rng.IntN(750)) * time.Millisecond
		time.Sleep(after)
		o.proc.Signal(t, syscall.SIGKILL)
		o.proc.Wait(t, 10*time.Second)
		t.Logf("kill %2d: %3d ms after start, %6d lines written, %6d at the sink", i+1, after.Milliseconds(), w.written(), sink.LogRecords())
		if i == 3 {
			time.Sleep(300 * time.Millisecond) // down for a while: the files hold the lines
		}
		o.restart(t)
	}
	// A graceful restart mid-file.
	time.Sleep(300 * time.Millisecond)
	o.proc.Signal(t, syscall.SIGTERM)
	o.proc.Wait(t, 10*time.Second)
	o.restart(t)
	time.Sleep(300 * time.Millisecond)
	stop()
	wg.Wait()
	select {
	case err := <-rotateErr:
		t.Fatal(err)
	default:
	}
	if w.err != nil {
		t.Fatal(w.err)
	}
	written := w.written()
	testutil.Eventually(t, 30*time.Second, "every written line at the sink", func() bool {
		seen, _ := sinkSeqs(t, sink)
		lost, _ := lineAccount(seen, written)
		return len(lost) == 0
	})
	seen, total := sinkSeqs(t, sink)
	lost, dups := lineAccount(seen, written)
	files, _ := filepath.Glob(filepath.Join(dir, "app.log*"))
	const perKill = 2 * filelogBatch
	t.Logf("filelog under logrotate (%d create, %d copytruncate rotations, %d files) and kill -9 ×%d + 1 graceful restart: %d lines written, %d delivered, lost %d, duplicated %d (bound %d per kill: one tailer batch + one queue request)",
		rotations[0], rotations[1], len(files), kills, written, total, len(lost), dups, perKill)
	if len(lost) > 0 {
		t.Errorf("lost %d lines, first %v", len(lost), lost[:min(len(lost), 10)])
	}
	if dups > kills*perKill {
		t.Errorf("%d duplicates after %d kills, more than %d per kill", dups, kills, perKill)
	}
	if rotations[0] == 0 || rotations[1] == 0 {
		t.Errorf("rotations: %d create, %d copytruncate; want both", rotations[0], rotations[1])
	}
}

// TestFilelogBackPressure: with the exporter's disk queue full under
// `block` (the sink down), outpost stops reading the file and keeps its
// checkpoint; the file holds the backlog; when the sink comes back every
// line arrives.
func TestFilelogBackPressure(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 22})
	sink.FailAlways(otlpsink.Failure{Code: codes.Unavailable, Message: "down"})
	o := newOutpost(t)
	dir := t.TempDir()
	w := &lineWriter{path: filepath.Join(dir, "app.log")}
	const lines = 30000 // about 3.3 MB, more than ten times the queue
	for range lines / 1000 {
		w.write(1000)
	}
	o.start(t, filelogConfig(o, dir, sink.GRPCAddr(), "kind: disk, max_bytes: 256KiB, full_policy: block"))

	var m testutil.Metrics
	testutil.Eventually(t, 20*time.Second, "reading paused on the full queue", func() bool {
		m = testutil.Scrape(t, o.telemetry)
		return m.Sum("outpost_receiver_refused_items_total", map[string]string{"receiver": "filelog"}) > 0
	})
	accepted := m.Sum("outpost_receiver_accepted_items_total", map[string]string{"receiver": "filelog"})
	unread := m.Sum("outpost_receiver_filelog_unread_bytes", nil)
	// Refusals go on (each retry reads the same batch again from the
	// file); nothing more is accepted while the queue is full.
	refused := m.Sum("outpost_receiver_refused_items_total", map[string]string{"receiver": "filelog"})
	testutil.Eventually(t, 20*time.Second, "more refused retries", func() bool {
		m = testutil.Scrape(t, o.telemetry)
		return m.Sum("outpost_receiver_refused_items_total", map[string]string{"receiver": "filelog"}) >= refused+3*filelogBatch
	})
	if got := m.Sum("outpost_receiver_accepted_items_total", map[string]string{"receiver": "filelog"}); got != accepted {
		t.Errorf("accepted went from %.0f to %.0f while the queue was full", accepted, got)
	}
	queued := m.Sum("outpost_queue_bytes", nil)
	t.Logf("queue full (%.0f bytes) after %.0f of %d lines accepted; %.0f bytes wait in the file", queued, accepted, lines, unread)
	if accepted >= lines || unread == 0 {
		t.Errorf("accepted %.0f lines of %d with %.0f bytes unread: the queue never blocked the reading", accepted, lines, unread)
	}
	sink.SetFail(nil)
	testutil.Eventually(t, 60*time.Second, "every line at the sink", func() bool {
		seen, _ := sinkSeqs(t, sink)
		lost, _ := lineAccount(seen, lines)
		return len(lost) == 0
	})
	seen, total := sinkSeqs(t, sink)
	lost, dups := lineAccount(seen, lines)
	t.Logf("after the drain: %d lines written, %d delivered, lost %d, duplicated %d", lines, total, len(lost), dups)
	if len(lost) > 0 || dups > 0 {
		t.Errorf("lost %d, duplicated %d", len(lost), dups)
	}
}
