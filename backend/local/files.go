package local

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/crashpoint"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/safefile"
)

// This file holds the only code that touches artifact files. Every path it
// acts on comes from a catalog entry and is checked by safePath first, so a
// hand-edited or hostile catalog cannot make us move or delete anything
// outside the artifact root and our own quarantine.

// absPath turns a recorded path into an absolute, cleaned one.
func (c *Catalog) absPath(recorded string) string {
	if filepath.IsAbs(recorded) {
		return filepath.Clean(recorded)
	}
	return filepath.Join(c.root, recorded)
}

// roots are the directories we may act in, with symlinks resolved so that
// comparisons see real locations. The quarantine directory's own name is not
// resolved: if someone replaced it by a symlink, the files under it resolve
// elsewhere and fail the check.
func (c *Catalog) roots() []string {
	return []string{resolveExisting(c.root), filepath.Join(resolveExisting(c.dir), quarantine)}
}

// resolveExisting resolves symlinks in the longest existing prefix of p and
// appends the rest unchanged, so paths that do not exist yet (a quarantine
// directory in a dry run) can still be compared.
func resolveExisting(p string) string {
	p = filepath.Clean(p)
	var rest []string
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(append([]string{r}, rest...)...)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(append([]string{p}, rest...)...)
		}
		rest = append([]string{filepath.Base(p)}, rest...)
		p = parent
	}
}

func within(p, root string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// safePath checks a path we are about to act on and returns its real
// location: the parent directory with symlinks resolved, plus the file name
// (the file itself is never followed, so acting on a symlink acts on the
// link). It refuses ".." elements (even ones that would clean away: a
// recorded path with ".." is not one we wrote), locations outside the roots,
// and symlinks whose target lies outside the roots.
func (c *Catalog) safePath(recorded string) (string, error) {
	for _, el := range strings.Split(filepath.ToSlash(recorded), "/") {
		if el == ".." {
			return "", fmt.Errorf("refusing path %q: it contains '..'", recorded)
		}
	}
	abs := c.absPath(recorded)
	loc := filepath.Join(resolveExisting(filepath.Dir(abs)), filepath.Base(abs))
	roots := c.roots()
	if !withinAny(loc, roots) {
		return "", fmt.Errorf("refusing path %q: %s is outside the artifact root %s and the quarantine %s", recorded, loc, roots[0], roots[1])
	}
	fi, err := os.Lstat(loc)
	switch {
	case err != nil: // missing (or unreadable): the caller's checks report it
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := filepath.EvalSymlinks(loc)
		if err != nil {
			return "", fmt.Errorf("refusing path %q: symlink with unresolvable target: %w", recorded, err)
		}
		if !withinAny(target, roots) {
			return "", fmt.Errorf("refusing path %q: it is a symlink to %s, outside the artifact root %s", recorded, target, roots[0])
		}
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("refusing path %q: not a regular file (%s)", recorded, fi.Mode().Type())
	}
	return loc, nil
}

// safeHome is safePath for a recorded (home) path: on top, it refuses
// anything inside the catalog directory (the catalog, its lock and backup,
// reports, the quarantine of any entry), which Record never accepts as an
// artifact and a hand-edited catalog must not make us move or delete.
func (c *Catalog) safeHome(recorded string) (string, error) {
	loc, err := c.safePath(recorded)
	if err != nil {
		return "", err
	}
	if dir := resolveExisting(c.dir); loc == dir || within(loc, dir) {
		return "", fmt.Errorf("refusing path %q: it lies inside the catalog directory %s", recorded, c.dir)
	}
	return loc, nil
}

func withinAny(p string, roots []string) bool {
	for _, r := range roots {
		if within(p, r) {
			return true
		}
	}
	return false
}

// hashFile returns size and hex sha256 of a file's content.
func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// matches verifies that the file at path is the recorded artifact: we move
// or delete only what we recorded, never a file rebuilt at the same path.
func matches(path string, ref FileRef) error {
	n, sum, err := hashFile(path)
	if err != nil {
		return err
	}
	if n != ref.Size || sum != ref.SHA256 {
		return fmt.Errorf("%s is not the recorded artifact (size %d sha256 %.12s…, recorded %d %.12s…): refusing to touch it", path, n, sum, ref.Size, ref.SHA256)
	}
	return nil
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// moveFile moves the recorded artifact from src to dst and is idempotent,
// so a re-run after a crash converges:
//   - src gone, dst present (and is ours): already done;
//   - both present, dst is ours: a copy finished but the source removal did
//     not (cross-device move): remove src;
//   - src present, dst missing: move.
//
// With dryRun it runs the same checks and changes nothing. The directories
// it changes are added to dirs, to be made durable once for the whole run
// before the catalog says the move happened.
func moveFile(src, dst string, ref FileRef, dryRun bool, dirs safefile.Dirs) error {
	srcOK, err := exists(src)
	if err != nil {
		return err
	}
	dstOK, err := exists(dst)
	if err != nil {
		return err
	}
	switch {
	case !srcOK && !dstOK:
		return fmt.Errorf("artifact %s is missing (neither at %s nor at %s)", ref.Path, src, dst)
	case !srcOK && dstOK:
		return matches(dst, ref)
	case srcOK && dstOK:
		if err := matches(dst, ref); err != nil {
			return fmt.Errorf("cannot move %s to %s: destination is occupied: %w", src, dst, err)
		}
		if err := matches(src, ref); err != nil {
			return err
		}
		if dryRun {
			return writable(filepath.Dir(src))
		}
		return remove(src, dirs)
	}
	if err := matches(src, ref); err != nil {
		return err
	}
	if dryRun {
		if err := writable(filepath.Dir(src)); err != nil {
			return err
		}
		return writable(filepath.Dir(dst))
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	dirs.Add(filepath.Dir(dst), filepath.Dir(filepath.Dir(dst)), filepath.Dir(src))
	if err := os.Rename(src, dst); err != nil {
		if !crossDevice(err) {
			return err
		}
		// The copy must be durable before the source goes: no batching.
		if err := copyFile(src, dst); err != nil {
			return err
		}
		if err := safefile.SyncDir(filepath.Dir(dst)); err != nil {
			return err
		}
		crashpoint.Hit("copied " + src)
		return remove(src, dirs)
	}
	crashpoint.Hit("moved " + src)
	return nil
}

// deleteFile removes the recorded artifact at path; a missing file counts as
// already deleted (a re-run after a crash).
func deleteFile(path string, ref FileRef, dryRun bool, dirs safefile.Dirs) error {
	ok, err := exists(path)
	if err != nil || !ok {
		return err
	}
	if err := matches(path, ref); err != nil {
		return err
	}
	if dryRun {
		return writable(filepath.Dir(path))
	}
	return remove(path, dirs)
}

// remove deletes path (gone already is fine) and notes its directory.
func remove(path string, dirs safefile.Dirs) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	crashpoint.Hit("removed " + path)
	dirs.Add(filepath.Dir(path))
	return nil
}

// copyFile is the cross-device fallback of a move: copy to a temp name,
// fsync, rename, so dst is either absent or complete.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	tmp := dst + ".partial"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // no-op after the rename
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// writable checks, for a dry run, that we could create or remove entries in
// dir, or create dir under its nearest existing ancestor.
func writable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", d)
			}
			if err := canWrite(d); err != nil {
				return fmt.Errorf("directory %s is not writable: %w", d, err)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(d) == d {
			return err
		}
	}
}

// removeEmptyDir removes a quarantine directory once it holds nothing.
func removeEmptyDir(dir string, dirs safefile.Dirs) {
	if os.Remove(dir) == nil {
		crashpoint.Hit("removed " + dir)
		dirs.Add(filepath.Dir(dir))
	}
}
