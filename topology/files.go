package topology

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strings"
)

// Fields tagged `file:"true"` hold the path of a file the agent reads; so
// does a Secret written as file:/path. With the CheckFiles option the
// checker opens each one.

// files checks that every file v refers to, at path, can be read.
func (c *checker) files(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			c.files(v.Elem(), path)
		}
	case reflect.Slice:
		for i := range v.Len() {
			c.files(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Struct:
		switch v.Type() {
		case selectionType:
			return
		case secretType:
			if ref := v.Interface().(Secret).Ref; strings.HasPrefix(ref, "file:") {
				c.readable(path, path[strings.LastIndex(path, ".")+1:]+" "+ref, strings.TrimPrefix(ref, "file:"))
			}
			return
		}
		for _, f := range fieldsOf(v.Type()) {
			fv, p := v.FieldByIndex(f.index), join(path, f.key)
			sf := f.owner.FieldByIndex(f.index[len(f.index)-1:])
			if sf.Tag.Get("file") == "true" {
				if name := fv.String(); name != "" {
					c.readable(p, f.key+" "+name, name)
				}
				continue
			}
			c.files(fv, p)
		}
	}
}

// readable reports, at path, a file that cannot be opened and read.
func (c *checker) readable(path, what, name string) {
	if c.isBroken(path) {
		return
	}
	info, err := os.Stat(name)
	if err == nil && info.IsDir() {
		err = errors.New("is a directory")
	}
	if err == nil {
		var f *os.File
		if f, err = os.Open(name); err == nil {
			_, err = f.Read(make([]byte, 1))
			f.Close()
			if errors.Is(err, io.EOF) {
				err = nil // empty, but readable: what it should hold is checked when it is used
			}
		}
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		c.errorAt(path, "%s cannot be read on this host: %v", what, err)
	}
}
