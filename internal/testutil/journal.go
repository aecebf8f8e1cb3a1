package testutil

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// JournalField is one field of a journal entry. A value with a newline or
// other control byte is written in the export format's binary form, as
// journald stores such fields.
type JournalField struct {
	Name  string
	Value []byte
}

// JournalEntry is one entry: its fields in order (a name may repeat) and
// its realtime timestamp in microseconds since the epoch.
type JournalEntry struct {
	RealtimeMicros int64
	Fields         []JournalField
}

// journalBootID is the boot ID of every fixture entry.
const journalBootID = "8d9f2b2c0a6a4b5e9d1f0e3c2b1a0f9e"

// AppendJournal appends entries to the journal file at path (creating it),
// by writing them in the journal export format
// (https://systemd.io/JOURNAL_EXPORT_FORMATS/) and having Debian's
// systemd-journal-remote turn them into a real journal file, which
// `journalctl --file=` reads. seq numbers the entries' monotonic
// timestamps, so that a later append sorts after an earlier one.
func AppendJournal(t testing.TB, path string, seq int, entries []JournalEntry) {
	t.Helper()
	bin := os.Getenv("JOURNAL_REMOTE_BIN")
	if bin == "" {
		bin = "/usr/lib/systemd/systemd-journal-remote"
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("systemd-journal-remote not found at %s: `make apt-deps` installs it", bin)
		}
		t.Skipf("systemd-journal-remote not found at %s", bin)
	}
	var b bytes.Buffer
	for i, e := range entries {
		b.WriteString("__REALTIME_TIMESTAMP=" + strconv.FormatInt(e.RealtimeMicros, 10) + "\n")
		b.WriteString("__MONOTONIC_TIMESTAMP=" + strconv.Itoa(1_000_000+seq+i) + "\n")
		b.WriteString("_BOOT_ID=" + journalBootID + "\n")
		for _, f := range e.Fields {
			if isText(f.Value) {
				b.WriteString(f.Name + "=")
				b.Write(f.Value)
				b.WriteByte('\n')
				continue
			}
			b.WriteString(f.Name + "\n")
			_ = binary.Write(&b, binary.LittleEndian, uint64(len(f.Value)))
			b.Write(f.Value)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	export := filepath.Join(t.TempDir(), "entries.export")
	if err := os.WriteFile(export, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--output="+path, "--split-mode=none", export).CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}

func isText(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
