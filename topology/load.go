package topology

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxFileSize is the most a topology file may hold, 4 MiB: a thousand
// regions take about 200 KB, and the cap bounds what a mistaken path
// (a log, a disk image) or a hostile file costs to read and parse.
const MaxFileSize = 4 << 20

// Load reads and validates a topology file. On any problem it returns a
// non-nil error of type Errors holding every problem found, decode and
// semantic, sorted by position.
//
// Load reads regular files only, and at most [MaxFileSize] bytes of them:
// a directory, a named pipe, a device such as /dev/zero or a socket is
// refused before anything is read, so that Load never blocks.
func Load(path string, opts ...Option) (*Mesh, error) {
	data, msg := readFile(path)
	if msg != "" {
		return nil, Errors{{File: path, Msg: msg}}
	}
	return Parse(path, data, opts...)
}

// readFile returns the contents of a regular file of at most MaxFileSize
// bytes, or why it cannot.
func readFile(path string) ([]byte, string) {
	// The mode is checked before opening, since opening a named pipe
	// waits for a writer, and again on the open file, which may not be the
	// one checked: O_NONBLOCK keeps even that open from waiting.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, cannotRead(err)
	}
	if msg := notRegular(fi); msg != "" {
		return nil, msg
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, cannotRead(err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, cannotRead(err)
	}
	if msg := notRegular(fi); msg != "" {
		return nil, msg
	}
	if fi.Size() > MaxFileSize {
		return nil, tooLarge(fi.Size())
	}
	// A file that grows after Stat still stops at the cap.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, cannotRead(err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Sprintf("file is larger than %s; a topology file may hold at most that", sizeCap)
	}
	return data, ""
}

var sizeCap = fmt.Sprintf("4 MiB (%d bytes)", MaxFileSize)

func tooLarge(size int64) string {
	return fmt.Sprintf("file is %d bytes; a topology file may hold at most %s", size, sizeCap)
}

func cannotRead(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return "cannot read: " + err.Error()
}

// notRegular says what a file that is not a regular file is.
func notRegular(fi fs.FileInfo) string {
	var what string
	switch m := fi.Mode(); {
	case m.IsRegular():
		return ""
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeDevice != 0:
		what = "a device"
	default:
		what = "a " + m.Type().String() + " file"
	}
	return "cannot read: " + what + ", not a regular file; give the path of a topology file"
}
