// Package ownerhint explains a permission error on a directory a Postern
// program keeps its files in (the server's data directory, an endpoint
// agent's state directory) when the cause is that the directory, or the
// file, belongs to another user: it names that user's uid, the program's
// and what to do. Why: both programs write their files 0600 in a
// directory they make 0700, so such a directory stays with the user that
// first wrote it; a first run with sudo, then a systemd unit with User=, or
// a container platform that runs the image as a new uid (another OpenShift
// project, a changed runAsUser), otherwise meets a bare "permission
// denied". One package says it so that both programs say it alike.
package ownerhint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Dir is the directory a hint is about, and the words it names it with.
type Dir struct {
	// Path is the directory.
	Path string
	// Noun is what the program calls it: "data directory".
	Noun string
	// Program is who runs, as in "this server runs as uid N": "server".
	Program string
	// Flag is the option that chooses another directory: "--data-dir".
	Flag string
}

// Wrap returns err, a permission error (*fs.PathError) met on a file of
// d.Path, on d.Path itself or, while making d.Path, on one of its parents,
// with who owns it (or the nearest directory above it this process may look
// at: a 0700 directory hides its files) when that is not this process's
// user, and what to do: run as the owner or hand the files over, or, when
// the directory is still to be made in another user's directory, make it
// for this user or choose another one. It looks no higher than the parent
// of d.Path (or of the failed parent). Other errors, errors on files
// elsewhere, and errors that carry the hint already are returned as they
// are, as are those a file's mode does not cause (EPERM) and any with no
// d.Path (no directory to explain, not the working directory); the result
// still matches errors.Is(err, fs.ErrPermission) and errors.As for what
// err matched. The command it gives is safe to paste into a shell
// anywhere: the path absolute and quoted, and, when the failed path had a
// "..", the directory the kernel reached (after a symlink: the link's
// target's parent); with a ".." this process cannot follow, there is no
// hint. A failed path with no ".." is taken to be named as the programs
// name their files (filepath.Join(d.Path, name): cleaned as text).
func Wrap(err error, d Dir) error {
	var pe *fs.PathError
	var told *hintError
	if err == nil || d.Path == "" || !errors.Is(err, fs.ErrPermission) || !errors.As(err, &pe) || errors.As(err, &told) || notModes(err) {
		return err
	}
	dir, dok := absolute(d.Path)
	if !slices.Contains(strings.Split(pe.Path, string(filepath.Separator)), "..") {
		// The programs name their files filepath.Join(d.Path, name),
		// which cleans a ".." as text: such a file is in the directory
		// the text names, whatever the kernel made of d.Path itself.
		dir, dok = absolute(filepath.Clean(d.Path))
	}
	path, pok := absolute(pe.Path)
	if !dok || !pok {
		return err // where the kernel went is not known: no hint rather than a wrong one
	}
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// A file symlinked out of the directory is a file elsewhere
		// (chown -R of the directory does not follow the link).
		target, rerr := filepath.EvalSymlinks(path)
		rdir, derr := filepath.EvalSymlinks(dir)
		if rerr != nil || derr != nil || !within(target, rdir) {
			return err
		}
	}
	top := dir // the hint names nothing above top's parent
	switch {
	case within(path, dir):
	case within(dir, path):
		top = path // making dir failed on a parent (os.MkdirAll)
	default:
		return err // a file elsewhere: its owner says nothing of dir
	}
	stop, uid := filepath.Dir(top), os.Geteuid()
	for p := path; ; p = filepath.Dir(p) {
		if owner, ok := ownerOf(p); ok {
			if owner == uid {
				return err
			}
			arg := dir
			if fi, lerr := os.Lstat(dir); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				arg += string(filepath.Separator) // chown -R changes a symlink it is given, not its directory
			}
			return &hintError{err: err, d: d, path: p, arg: shellQuote(arg), owner: owner, uid: uid, toMake: !within(p, dir)}
		}
		if p == stop || filepath.Dir(p) == p {
			return err
		}
	}
}

// absolute is path made absolute (from this process's working directory,
// which the shell the hint is pasted in need not share) and clean, naming
// what the kernel names: a ".." after a symlink leads to the parent of the
// link's target, not of the link, so the part up to the last ".." is
// resolved (filepath.EvalSymlinks) rather than cleaned as text (which is
// exact where no ".." follows). ok is false when that part cannot be
// resolved (a component missing or hidden from this process).
func absolute(path string) (abs string, ok bool) {
	if !filepath.IsAbs(path) {
		// Not filepath.Abs: it cleans, and the working directory itself
		// may be a symlink ($PWD) that a ".." in path leaves.
		if wd, err := os.Getwd(); err == nil {
			path = wd + string(filepath.Separator) + path
		}
	}
	elems := strings.Split(path, string(filepath.Separator))
	last := -1
	for i, e := range elems {
		if e == ".." {
			last = i
		}
	}
	if last < 0 {
		return filepath.Clean(path), true
	}
	head, err := filepath.EvalSymlinks(strings.Join(elems[:last+1], string(filepath.Separator)))
	if err != nil {
		return "", false
	}
	if head, err = filepath.Abs(head); err != nil {
		return "", false
	}
	return filepath.Join(head, strings.Join(elems[last+1:], string(filepath.Separator))), true
}

// shellQuote is s as one word of a POSIX shell: as it is when every
// character is safe, else in single quotes.
func shellQuote(s string) string {
	const safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@,%"
	if s != "" && s[0] != '-' && strings.Trim(s, safe) == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// within reports whether path is dir or lies under it (both clean).
func within(path, dir string) bool {
	if path == dir {
		return true
	}
	if !strings.HasSuffix(dir, string(filepath.Separator)) {
		dir += string(filepath.Separator)
	}
	return strings.HasPrefix(path, dir)
}

// hintError is a permission error with the owner of what it met (Wrap).
type hintError struct {
	err        error
	d          Dir
	path       string
	arg        string // the directory as the command's argument
	owner, uid int
	// toMake: path is above the directory, which is still to be made
	// there; otherwise path is the directory or one of its files.
	toMake bool
}

func (e *hintError) Error() string {
	d := e.d
	if e.toMake {
		return fmt.Sprintf("%v (%s belongs to uid %d and this %s runs as uid %d: make the %s for uid %d "+
			"(install -d -o %d -m 700 %s), or choose another %s)",
			e.err, e.path, e.owner, d.Program, e.uid, d.Noun, e.uid, e.uid, e.arg, d.Flag)
	}
	return fmt.Sprintf("%v (%s belongs to uid %d and this %s runs as uid %d: a %s stays with the user "+
		"that wrote it first; run the %s as uid %d, or give the directory and its files to uid %d: chown -R %d %s)",
		e.err, e.path, e.owner, d.Program, e.uid, d.Noun, d.Program, e.owner, e.uid, e.uid, e.arg)
}

func (e *hintError) Unwrap() error { return e.err }
