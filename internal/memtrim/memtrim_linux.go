// Package memtrim keeps the resident size of the outpost binary's own code
// small on Linux.
//
// The kernel maps file-backed pages ahead of use (read-ahead and
// fault-around map up to 16 neighbouring pages on every fault), so a Go
// binary soon has most of its 17 MiB of code and read-only data resident
// although only a fraction is ever executed. On an edge node with a few
// hundred MiB of memory that matters. Trim drops the read-only mappings of
// the executable from the page tables and asks the kernel to map them page
// by page from then on (MADV_RANDOM), so the resident code is what runs.
// The pages stay in the page cache: a later touch is a minor fault.
//
// Only read-only mappings of the executable file are touched: writable
// ones (.data, .bss) and anonymous memory never are.
package memtrim

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

func madvise(addr, length uintptr, advice int) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, length, uintptr(advice)); errno != 0 {
		return errno
	}
	return nil
}

// Trim applies the advice to the executable's read-only mappings. It is
// best effort: any failure leaves memory as it was.
func Trim() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	type region struct{ start, end uintptr }
	var regions []region
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		addrs := strings.SplitN(fields[0], "-", 2)
		start, err1 := strconv.ParseUint(addrs[0], 16, 64)
		end, err2 := strconv.ParseUint(addrs[1], 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		regions = append(regions, region{uintptr(start), uintptr(end)})
	}
	for _, r := range regions {
		if madvise(r.start, r.end-r.start, syscall.MADV_RANDOM) != nil {
			continue
		}
		_ = madvise(r.start, r.end-r.start, syscall.MADV_DONTNEED)
	}
}
