package filelogreceiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkpointName is the file under the receiver's storage directory that
// holds its checkpoint.
const checkpointName = "checkpoint.json"

// checkpointVersion is the version of the checkpoint format.
const checkpointVersion = 1

// checkpointFile is the on-disk checkpoint: one JSON document, replaced
// whole (written to checkpoint.json.tmp, fsynced, renamed over
// checkpoint.json) after each batch the pipeline accepted, so that it is
// always either the old or the new state. The directory is fsynced only
// when the checkpoint is first created: a rename lost to a power cut
// leaves the previous checkpoint, which is behind, never ahead (lines
// delivered twice, never lost), and saves an fsync per batch.
//
//	{"version":1,"files":[{"fp_len":1000,"fp_hash":1234,"offset":5678,
//	  "path":"/var/log/app.log","done":false}]}
//
// fp_len and fp_hash identify a file: the xxhash64 of its first fp_len
// bytes (fp_len ≤ fingerprint_size; shorter while the file was shorter).
// offset is the byte offset (of the decompressed stream for a compressed
// file) up to which every record was accepted by the pipeline. path is
// where the file was last read (informative: files are matched by
// fingerprint). done marks a compressed file read to its end.
type checkpointFile struct {
	Version int               `json:"version"`
	Files   []checkpointEntry `json:"files"`
}

type checkpointEntry struct {
	FPLen  int    `json:"fp_len"`
	FPHash uint64 `json:"fp_hash"`
	Offset int64  `json:"offset"`
	Path   string `json:"path"`
	Done   bool   `json:"done,omitempty"`
}

// loadCheckpoint reads the checkpoint in dir. found is false when there is
// none. A checkpoint that does not decode is renamed to
// checkpoint.json.bad and reported as an error, with found true: the
// receiver then reads every file from its beginning (duplicates rather
// than losses).
func loadCheckpoint(dir string) (entries []checkpointEntry, found bool, err error) {
	path := filepath.Join(dir, checkpointName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("read checkpoint: %w", err)
	}
	var cf checkpointFile
	if err := json.Unmarshal(b, &cf); err != nil || cf.Version != checkpointVersion {
		if err == nil {
			err = fmt.Errorf("version %d, want %d", cf.Version, checkpointVersion)
		}
		if rerr := os.Rename(path, path+".bad"); rerr != nil {
			return nil, true, fmt.Errorf("checkpoint %s: %w (set aside: %w)", path, err, rerr)
		}
		return nil, true, fmt.Errorf("checkpoint %s: %w; set aside as %s.bad, files are read from their beginning", path, err, checkpointName)
	}
	return cf.Files, true, nil
}

// saveCheckpoint replaces the checkpoint in dir atomically and durably.
func saveCheckpoint(dir string, entries []checkpointEntry) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create storage directory: %w", err)
	}
	b, err := json.Marshal(checkpointFile{Version: checkpointVersion, Files: entries})
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	tmp := filepath.Join(dir, checkpointName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close checkpoint: %w", err)
	}
	final := filepath.Join(dir, checkpointName)
	_, statErr := os.Stat(final)
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("rename checkpoint: %w", err)
	}
	if statErr == nil {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync storage directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync storage directory: %w", err)
	}
	return nil
}
