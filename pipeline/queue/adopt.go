package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// AdoptOptions configure Adopt.
type AdoptOptions struct {
	// FS is the file system of both queues; nil is the OS's.
	FS FS
	// From is the directory of the queue whose backlog moves.
	From string
	// To is the directory of the queue that takes it (created if missing).
	To string
	// Check, if set, sees what From holds before anything is written; an
	// error from it refuses the adoption (for example: a wire format the
	// target's exporter does not speak).
	Check func(Info) error
}

// AdoptResult is what Adopt moved.
type AdoptResult struct {
	// Moved is the source as Adopt found it; its Records and Items per lane
	// are what was appended to the target.
	Moved Info
	// Removed reports whether the source directory is gone; it stays when
	// it holds set-aside segments (*.seg.bad), which are never moved.
	Removed bool
}

// Adopt moves the unacknowledged records of the queue in From to the end of
// the queue in To, offline: each record keeps its lane, its creation time
// and its order, after the records To already holds. It takes both queues'
// locks, so it fails with an error wrapping ErrLocked while a process (an
// outpost running with either queue) holds one.
//
// It is crash-safe, at-least-once: the records are first appended to To
// and fsynced; only then is each lane of From marked consumed (its cursor
// moved past its last segment, fsynced) and its files deleted. Killed
// before that, From still holds every record (To may hold some of them
// too, and adopting again delivers those twice); killed after, From is
// empty to every reader. Nothing is lost either way.
func Adopt(opts AdoptOptions) (AdoptResult, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	var res AdoptResult
	from, to := absDir(opts.From), absDir(opts.To)
	if from == to {
		return res, fmt.Errorf("adopt: source and target are the same queue %s", from)
	}
	if _, err := fsys.ReadDir(from); err != nil {
		return res, fmt.Errorf("adopt: source queue: %w", err)
	}
	if !IsQueueDir(fsys, from) {
		return res, fmt.Errorf("adopt: %s is not a queue directory (no high/, normal/ or low/ in it)", from)
	}
	lock, err := fsys.Lock(filepath.Join(from, lockName))
	if err != nil {
		return res, fmt.Errorf("adopt: source queue %s: %w", from, err)
	}
	defer lock.Close()

	info, err := Inspect(fsys, from)
	if err != nil {
		return res, fmt.Errorf("adopt: %w", err)
	}
	res.Moved = info
	if opts.Check != nil {
		if err := opts.Check(info); err != nil {
			return res, fmt.Errorf("adopt: %w", err)
		}
	}
	// No bound and no fsync per append while copying: the target gets its
	// configured limits back when outpost opens it, and Close fsyncs
	// everything before the source is touched.
	target, err := Open(Options{
		Dir: to, FS: fsys,
		Limits: Limits{MaxBytes: 1 << 62, FullPolicy: FullBlock, Fsync: FsyncInterval, FsyncInterval: time.Hour},
	})
	if err != nil {
		return res, fmt.Errorf("adopt: target queue %s: %w", to, err)
	}
	var corrupt int
	var copyErr error
	for l := range Lane(NumLanes) {
		_, copyErr = scanLane(fsys, filepath.Join(from, l.String()), func(uint64, int64) {}, func(rec Record) error {
			rec.Lane = l
			return target.Append(rec)
		}, &corrupt)
		if copyErr != nil {
			break
		}
	}
	if err := errors.Join(copyErr, target.Close()); err != nil {
		return res, fmt.Errorf("adopt: copying into %s (the source %s is unchanged; adopting again may deliver some records twice): %w", to, from, err)
	}

	// Every record is durable in the target: retire the source.
	for l := range Lane(NumLanes) {
		if err := consumeLane(fsys, filepath.Join(from, l.String())); err != nil {
			return res, fmt.Errorf("adopt: the records are in %s, but marking %s consumed failed (remove it by hand before outpost sees it, or it is delivered twice): %w", to, from, err)
		}
	}
	res.Removed = removeQueueDir(fsys, from)
	_ = fsys.SyncDir(filepath.Dir(from))
	return res, nil
}

func absDir(dir string) string {
	dir = filepath.Clean(dir)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// consumeLane moves a lane's cursor past its last segment and fsyncs it, so
// that no reader sees its records again, then deletes its segments.
func consumeLane(fsys FS, dir string) error {
	names, err := fsys.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var last uint64
	var segs []string
	for _, name := range names {
		if n, kind, ok := parseSegName(name); ok && kind == segLive {
			last = max(last, n)
			segs = append(segs, name)
		}
	}
	if len(segs) == 0 {
		return nil
	}
	path := filepath.Join(dir, cursorName)
	b, err := readAll(fsys, path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_, seq, ok := decodeCursor(b)
	if !ok || len(b) != cursorFileSize || !checkCursorHeader(b) {
		b, seq = make([]byte, cursorFileSize), 0
		putCursorHeader(b)
	}
	seq++
	off := cursorSlotOffset(seq)
	putCursorSlot(b[off:off+cursorSlotSize], seq, position{seg: last + 1})
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.SyncDir(dir); err != nil {
		return err
	}
	for _, name := range segs {
		_ = fsys.Remove(filepath.Join(dir, name)) // behind the cursor: Open deletes what is left
	}
	return nil
}

// removeQueueDir deletes a consumed queue directory, unless set-aside
// segments are left in it, and reports whether it is gone.
func removeQueueDir(fsys FS, dir string) bool {
	for l := range Lane(NumLanes) {
		ld := filepath.Join(dir, l.String())
		names, err := fsys.ReadDir(ld)
		if err != nil {
			continue
		}
		for _, name := range names {
			if strings.HasSuffix(name, badSuffix) {
				return false
			}
		}
		for _, name := range names {
			_ = fsys.Remove(filepath.Join(ld, name))
		}
		_ = fsys.Remove(ld)
	}
	_ = fsys.Remove(filepath.Join(dir, lockName))
	return fsys.Remove(dir) == nil
}
