// Package queue is an exporter's durable, bounded, priority-laned FIFO of
// request bodies.
//
// An exporter encodes each batch once into a Record and Appends it;
// consumer goroutines Read records (ReadLane for the next ones of a lane,
// to merge them into one request), send them, and Ack (or Nack) each. Nothing Append accepted is lost across a kill -9 or, under
// FsyncAlways, a power cut: records not acknowledged are delivered again
// after a restart (at-least-once; acknowledged records behind an
// unacknowledged one in the same lane may come again too).
//
// # Lanes
//
// Records are in one of three lanes: high, normal, low. Read returns the
// oldest unread record of the most important non-empty lane. drop_oldest
// sheds the least important lane first and never lets a record displace a
// more important one (see Queue.Append).
//
// # Kinds
//
// A disk queue keeps its records in a directory (below). A memory queue
// runs the same engine over an in-memory file system (memFS): one code
// path, so memory queues get the same lane, bound, drop and expiry
// semantics and the same tests, for the price of one copy of each body in
// and out. Its MaxBytes counts the same bytes a disk queue would write
// (segment headers and record framing included); FsyncPolicy is ignored.
//
// # Directory layout
//
// The queue directory (Options.Dir) holds:
//
//	lock                      flock(2)ed while a Queue has the directory open
//	high/ normal/ low/        one directory per lane, each holding:
//	  00000000000000000001.seg    segments: 20 decimal digits, numbered from 1, never reused
//	  cursor                      the lane's consumer cursor
//	  00000000000000000001.seg.bad  a damaged segment set aside (at most 4 per lane)
//	  00000000000000000001.seg.unknown  a segment of a format version this
//	                              binary does not know (written by a newer
//	                              outpost before a rollback): kept, never
//	                              deleted, its bytes reported in
//	                              QueueUnreadable; rename it back to .seg
//	                              for a binary that knows its version
//
// Other files are ignored (and logged). All integers are little-endian.
//
// # Segment files
//
// A segment starts with a 16-byte header:
//
//	0   6  magic "OPQSEG"
//	6   2  format version, uint16 = 2 (this binary writes 2, reads 1 and 2)
//	8   1  lane (0 high, 1 normal, 2 low; informative: the directory decides)
//	9   3  reserved, zero
//	12  4  CRC32-C (Castagnoli) of bytes 0..11
//
// then records, back to back:
//
//	0   4  sync marker C5 7A 0E 91 (0xC5 0x7A is not valid UTF-8, so JSON
//	       and text bodies never contain it)
//	4   4  payload length n, uint32 (21 <= n < 2^31; version 1: 16 <= n)
//	8   4  CRC32-C of bytes 4..7 (the length) followed by the n payload bytes
//	12  n  payload, format version 2:
//	       0  8  created, unix nanoseconds, int64
//	       8  4  items, uint32
//	       12 1  lane
//	       13 1  flags: bit 0 mergeable (Record.Mergeable), bit 1 wire-ready
//	             (Record.WireReady); other bits zero (a record with an
//	             unknown bit fails the structure check, as damage does)
//	       14 4  raw size, uint32: the body's size with its compression
//	             undone (Record.RawSize), so that a sender can bound a merged
//	             request without decompressing
//	       18    signal, encoding, compression: each 1 length byte (0..255)
//	             and that many bytes
//	       ..    body: the rest of the payload
//
// A version 1 payload has no flags and no raw size: created (8), items
// (4), lane (1), then the three strings and the body; its records read as
// WireReady with RawSize 0 (version 1 stored bodies as sent on the wire).
// The version is per segment (its header), so a directory may hold both:
// segments left by version 1 are read and delivered in order, and appends
// always go to new (version 2) segments. A version 1 binary sets version
// 2 segments aside as .seg.unknown (and the cursor, still version 1, stays
// readable to it).
//
// What Compression means is up to the writer; pipeline/sender stores
// bodies compressed with s2 (Compression "s2", neither flag wire-ready)
// and marks those of protobuf requests that concatenate as mergeable.
//
// A record never spans segments. The active segment of a lane is sealed
// when the next record would take it past the segment size,
// clamp(MaxBytes/16, 64 KiB, 16 MiB); a record larger than that gets a
// segment of its own. Appends after Open always go to a new segment, so a
// segment is written by one process only.
//
// # How bodies are stored: the trade-off
//
// A sender merges queued bodies into one request and compresses that once
// for the wire, so a stored body need not be wire-ready; the choice is
// between raw protobuf and a fast codec per record. Measured with
// BenchmarkStorageAppend and BenchmarkStorageMergeAndSend
// (pipeline/sender/storage_bench_test.go: OTLP spans as an SDK makes them,
// random trace and span ids; append = compress and Append to a disk queue
// under fsync: interval; merge+send = decompress the records of an
// 8200-span request, concatenate, compress once with zstd fastest for the
// wire). The machine is 2 cores shared with other builds, so CPU figures
// move by ±50% between runs; bytes are exact. Two runs, the second the
// median of three under heavier load:
//
//	stored as        disk B/span          append CPU/span          merge+send CPU/span
//	                 100-span / 2-span    100-span / 2-span        (wire: 46.3 B/span)
//	                 records              records, run 1 | run 2   run 1 | run 2
//	raw protobuf     195 / 321            0.48 / 4.6 | 0.95 / 8.0 µs   2.5 | 13 µs (noise)
//	s2 (chosen)       62 / 244            1.8 / 6.5 | 4.0 / 15 µs      2.3 | 1.2 µs
//	snappy            61 / 247            2.3 / 7.3 | 4.3 / 19 µs      2.3 | 1.8 µs
//	zstd fastest      52 / 239            4.2 / 30  | 5.3 / 34 µs      2.7 | 3.5 µs
//
// s2 stores a third of the raw bytes for batch-sized records, for about
// 1.3 µs a span more than raw on the acknowledgement path (run 1): a 256 MiB
// queue holds three times the backlog, a replay reads a third of the
// bytes from disk, and fsync writes a third. Decompressing s2 runs at
// GB/s, so a replay stays bound by the disk and the uplink, and merge+send
// is dominated by the wire compression whatever the storage. zstd would
// save another 15% of disk for 2 to 5 times the CPU of s2 at append.
// Records of a couple of spans (no batch processor in front) cost more per
// span in framing and write calls than in compression, and compress less
// (no repetition within a record).
//
// # Cursor file
//
// 72 bytes: an 8-byte header (magic "OPQCUR", cursor format version
// uint16 = 1, unchanged by segment format version 2)
// and two 32-byte slots at offsets 8 and 40:
//
//	0   8  sequence number, uint64; slot (sequence mod 2) holds it
//	8   8  segment number, uint64
//	16  8  offset in that segment, uint64
//	24  4  reserved, zero
//	28  4  CRC32-C of bytes 0..27
//
// The valid slot with the higher sequence wins. The position is that of the
// lane's first record not yet acknowledged (or the end of the last one
// acknowledged, or offset 0 of the next segment to be created when the
// lane has no segment left): every record before it is done, segments
// numbered below it are deleted at Open. Each cursor advance pwrites the other slot (no
// rename, no fsync): a torn or lost write leaves the previous slot, which
// only re-delivers. The write reaches the OS before Ack returns, so a kill -9
// re-delivers only records that were read and not acknowledged.
//
// # Durability
//
//   - FsyncAlways: Append returns after the segment (and, for the first
//     record of a new segment, the lane directory) is fsynced. Concurrent
//     Appends share fsyncs (group commit): whoever holds the sync lock
//     fsyncs everything written so far; the appends it covered return.
//   - FsyncInterval: Append returns once the record is written to the OS;
//     the background goroutine fsyncs dirty segments and directories every
//     FsyncInterval. On power loss at most the appends of the last
//     FsyncInterval (plus one fsync's duration) are lost; on kill -9 nothing
//     is, because the writes are in the OS page cache. Open fsyncs the
//     segments it finds, so data a crashed process had not synced becomes
//     durable.
//   - Deletions and renames are not fsynced: if one is lost, the segment
//     comes back and its records are delivered again, or dropped again.
//   - Directories: Open creates the queue directory (and any missing
//     parent) and the lane directories and fsyncs each into its parent
//     (MkdirDurable; cmd creates storage.directory the same way), and
//     fsyncs the lane directories after recovery.
//   - A failed fsync: after a writeback error Linux marks the pages clean,
//     so the next fsync succeeds without writing them. A later successful
//     fsync therefore never vouches for writes made before a failed one.
//     When the fsync of a segment fails (or, for a segment created since,
//     of its lane directory), the segment is marked not durable and
//     sealed; appends go on in a new segment. Under FsyncAlways every
//     Append whose record is in it and was not yet acknowledged returns
//     an error wrapping ErrSync (retryable: receivers answer 503 /
//     UNAVAILABLE), including Appends a later round would have covered;
//     Appends whose segments synced fine in the same round succeed. (An
//     Append returns nil only once a good fsync covered its record and its
//     segment's name is durable.) The
//     failed records are left in the file: they are intact in the page
//     cache, and readable and checksummed on disk if they got there, so
//     they are delivered if they can be read and checked (the client's
//     retry then makes a duplicate: at-least-once, never a loss) and
//     otherwise detected as a torn tail or a corrupt record. The segment's
//     records acknowledged before the failure were fsynced and stay
//     readable. Under FsyncInterval the appends were acknowledged already:
//     the failure is logged as an error and kept for SyncError (the
//     service's /readyz answers 503) until a later fsync round succeeds.
//     Every failed fsync counts in outpost_queue_fsync_errors_total.
//
// # Recovery at Open
//
// Open never fails because of the queue's segment files. For each lane it
// reads the cursor (unreadable or missing: start at the oldest segment),
// deletes segments before the cursor, and scans the others record by
// record from the cursor on, keeping only counts (see "Reading"):
//
//   - An I/O error opening, reading or fsyncing a segment (EMFILE, ENFILE,
//     EIO, ...; anything but bytes that fail their checks) is not
//     corruption: the segment is kept as it is, unscanned, counted in
//     QueueIOErrors and logged (rate-limited). The lane stays usable:
//     appends go to new segments, Read delivers the records before it and
//     then scans it, retrying with backoff until it can be read. Its
//     records and bytes are counted (Stats, gauges, MaxBytes) only once it
//     has been scanned; the cursor never passes it, and drop_oldest never
//     drops it (see "Bounds").
//   - A segment shorter than its header is deleted (torn at creation).
//   - A header with another format version is renamed *.seg.unknown
//     unread and never deleted (QueueUnreadable reports the bytes of such
//     files, found at Open or set aside since); a damaged header (magic
//     or CRC) is counted and the records are scanned anyway.
//   - A record whose marker, length or CRC does not check starts a damaged
//     region: the scan looks for the next marker whose record checks out
//     and goes on from there, so every intact record after the damage is
//     delivered. If none follows, the region is a torn tail and the file is
//     truncated at its start.
//   - QueueCorrupt counts damaged regions, not records (a region's record
//     count is unknowable): one per torn tail, per skipped region, per
//     damaged header, per unknown-version segment, and per record that
//     fails its checks when Read reads it. A region is counted again by
//     every Open that finds it while its segment lives. Logs are
//     rate-limited to one line per 10 s.
//   - Items lost to corruption are counted in QueueDropped with reason
//     "corrupt": for a region skipped at Open, the items in the header of
//     its first (damaged) record if the marker and header are there (an
//     estimate: a region may have held more records); for records an
//     earlier scan or append had counted and that Read then finds damaged,
//     exactly their items. A torn tail is not counted there: it is
//     normally the last write, which was never acknowledged.
//   - A segment that had a skipped region is renamed to *.seg.bad, instead
//     of being deleted, once all its records are done; each lane keeps the
//     4 newest .bad files and deletes older ones. .bad files do not count
//     against MaxBytes.
//   - A segment truncated exactly at a record boundary looks whole: the
//     records cut off are lost without a count. (Under FsyncAlways this
//     does not happen to acknowledged appends; it takes outside damage.)
//
// # Bounds
//
// AppendAll stores the parts of one client request (an exporter splits a
// request by lane) as one unit of capacity: under block, room for all of
// them is reserved before any is written, or none is written and it
// returns ErrFull, so a client's retries do not store the parts that fit
// again and again.
//
// The sum of the lane segment file sizes (headers included) never exceeds
// MaxBytes, in any transient state: Append reserves the record's bytes (and
// a new segment's header) before writing. Exceptions: after Reconfigure
// lowers MaxBytes, or when Open finds more data than MaxBytes, nothing is
// dropped eagerly (Appends then fail or drop until it fits again); a failed
// write that cannot be truncated away may leave garbage past the
// accounted end until the next Open; a segment not yet scanned (I/O error)
// counts from when it is scanned; lock, cursor (72 bytes), up to 4 .bad
// files per lane and the .seg.unknown files are outside the bound.
//
// Space is freed a segment at a time: when every record of a sealed
// segment is done it is deleted. The active segment is kept while empty of
// live records (deleting it would make a file per record when the consumer
// keeps up) and is deleted only when room is needed. drop_oldest drops
// whole segments too, the oldest first: it sheds up to a segment
// (1/16 of MaxBytes) more than the record needs. It passes over a segment
// not yet scanned (I/O error): its bytes are not counted, so dropping it
// would free no room, and its items could not be counted if it still
// cannot be read; it stays for Read, and the next droppable segment (of
// the same lane, then of the next more important one) goes instead.
//
// MaxAge is applied when reading: Read drops older records (counted with
// reason "expired") instead of returning them.
//
// # Reading
//
// The in-memory index is sparse, so that its size does not grow with the
// backlog: per segment the queue keeps the read position (the offset of
// the next record not yet handed out), the count of intact records (and
// their items) from there on, what it knows of the next record's header,
// and the damaged regions the scan found ahead; per lane, a window with an
// entry for each record Read handed out that is not yet acknowledged
// (in flight, or nacked and to be handed out again first). A record before
// a segment's read position that is not in the window is done. The cursor
// is the window's oldest record, else the read position of the first
// segment with records left to read. So acknowledgements in any order
// work, the cursor advances only over a contiguous acknowledged prefix,
// and memory is a few hundred bytes per segment plus one entry per record
// in flight. The price: Open still reads every live segment once (to
// count records and find damage) but keeps nothing per record, and Read
// reads each record's frame with the next record's header in one read.
//
// Read tells corruption from I/O errors. Bytes that fail the marker,
// length or CRC checks, or are missing (a read that ends before the size
// the queue knows), are corruption: the record is skipped, the read
// position moves to the next intact record, and the loss is counted (see
// above). Any other error from the file system leaves the record where it
// is, unread: it is counted in QueueIOErrors (op "open", "read" or
// "fsync"), logged at most once per 10 s, and the lane is not read again
// until a backoff has passed (10 ms, doubling to 5 s; reset by a
// successful read). Meanwhile Read serves the other lanes, and waits for
// the backoff, an append, its context or Close — it does not spin.
//
// # Why not Prometheus tsdb/wlog
//
// DESIGN asks for tsdb/wlog where it fits. It does not fit here, checked
// against tsdb/wlog/wlog.go in github.com/prometheus/prometheus (main
// branch; the module is not in this module's go.mod, which has only
// client_golang, client_model and common from Prometheus):
//
//   - Its file I/O calls os directly (os.OpenFile in CreateSegment and
//     OpenWriteSegment, os.Open, os.ReadDir in listSegments, os.Remove in
//     Truncate and Repair); there is no file-system parameter, so the
//     power-cut acceptance test (crashfs_test.go) could not run against it.
//   - Repair "discards all data after the corruption": it deletes every
//     later segment and rewrites the damaged one up to the corrupt offset.
//     We must deliver every intact record after a corrupt one.
//   - Records are opaque byte slices split into fragments across 32 KiB
//     pages; there is no consumer cursor, no acknowledgement, no lanes, no
//     per-record metadata and no byte bound (Truncate drops segments below
//     an index, Size only reports).
//   - Log does not fsync. Segments are fsynced when a new one is started
//     (asynchronously) and by Close; WL.Sync exists but is documented as
//     "meant to be used only on tests". Per-append durability, which a
//     receiver acknowledging its client needs, is not offered.
//
// So the package writes its own log; it keeps wlog's good ideas: segments,
// CRC32-C per record, torn-tail truncation.
//
// # What the package does not do
//
// It does not encode, compress, merge or send; it does not retry sends
// (the consumer Nacks; only reads of its own files are retried) and does
// not count what the sender drops. It does not
// drop data eagerly on Reconfigure. It offers no exactly-once delivery. A
// directory is shared within a process only through a Registry; across
// processes the lock refuses a second user (on non-Unix systems there is
// no lock). It does not repair or rewrite segments, only truncates torn
// tails.
package queue
