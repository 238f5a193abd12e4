package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// qcow2 header fields we need (all big-endian), per qemu docs/interop/qcow2.txt:
//
//	0  magic "QFI\xfb"
//	4  version uint32
//	8  backing_file_offset uint64 (0: no backing file)
//	16 backing_file_size uint32
//
// Parsing these 20 bytes ourselves avoids depending on qemu-img being
// installed where packer runs.
var qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}

// qemu refuses backing file names longer than 1023 bytes; so do we, which
// also bounds what a corrupt header can make us read.
const maxBackingName = 1023

// qcow2Backing returns the backing file name stored in the qcow2 image at
// path, exactly as written (possibly relative to the image's directory).
// isQcow2 is false for any file that is not a qcow2 image.
func qcow2Backing(path string) (backing string, isQcow2 bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	var hdr [20]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", false, nil // too short to be qcow2
		}
		return "", false, err
	}
	if string(hdr[:4]) != string(qcow2Magic) {
		return "", false, nil
	}
	off := binary.BigEndian.Uint64(hdr[8:16])
	size := binary.BigEndian.Uint32(hdr[16:20])
	if off == 0 || size == 0 {
		return "", true, nil
	}
	if size > maxBackingName || off > 1<<40 {
		return "", true, fmt.Errorf("qcow2 %s: implausible backing file header (offset %d, size %d)", path, off, size)
	}
	name := make([]byte, size)
	if _, err := f.ReadAt(name, int64(off)); err != nil {
		return "", true, fmt.Errorf("qcow2 %s: reading backing file name: %w", path, err)
	}
	return string(name), true, nil
}
