package e2e

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
)

// TestDocs runs every ```hcl example of the documentation through the real
// Packer, so a reader who copies one gets a template that works. The
// convention (docs/README.md says it for writers):
//
//   - a block with a `build` block is a complete template: `packer validate`
//     as written, then `packer build` when it uses only the file and null
//     builders and the local backend, or against the Compute Engine
//     emulator when it uses GCP (see buildOnGCE), with the real azure-arm
//     builder on the ARM emulator when it uses Azure (see buildOnARM); AWS
//     examples are validated only; validation contacts nothing. A `data "lifecycle-image"` block gets one
//     release of its family recorded first, as the prose around it assumes.
//   - any other block (a lone post-processor, a packer block, a data source)
//     is a fragment: the test wraps it into a minimal file-builder template
//     and validates that.
//   - a block that cannot be completed either way is preceded by
//     `<!-- fragment: what is elided -->` and only has to parse as HCL.
func TestDocs(t *testing.T) {
	blocks := docBlocks(t)
	require.NotEmpty(t, blocks, "found no ```hcl blocks in the docs")
	for _, b := range blocks {
		t.Run(b.where, func(t *testing.T) {
			file, diags := hclsyntax.ParseConfig([]byte(b.text), b.where, hcl.InitialPos)
			require.False(t, diags.HasErrors(), "does not parse as HCL: %s", diags)
			body := file.Body.(*hclsyntax.Body)
			if b.marker != "" {
				require.NotEmpty(t, strings.TrimSpace(b.marker), "a fragment marker must say what is elided")
				return
			}
			text, complete := b.text, hasBlock(body, "build")
			if !complete {
				text = wrapFragment(body, b.text)
			}
			dir := template(t, "docs.pkr.hcl", text)
			mustSucceed(t, packer(dir, "validate", "docs.pkr.hcl"))
			if complete && usesGCP(body, b.text) {
				buildOnGCE(t, body, b.text)
				return
			}
			if complete && usesAzure(body, b.text) {
				buildOnARM(t, body, b.text)
				return
			}
			if !complete || !buildable(body, b.text) {
				return
			}
			for _, d := range body.Blocks {
				if d.Type == "data" && len(d.Labels) == 2 && d.Labels[0] == "lifecycle-image" {
					seedRelease(t, dir, d)
				}
			}
			mustSucceed(t, packer(dir, "build", "docs.pkr.hcl"))
		})
	}
}

type docBlock struct {
	where  string // file:line of the opening fence
	text   string
	marker string // the text of a <!-- fragment: ... --> marker, if any
}

var fragmentMarker = regexp.MustCompile(`^<!--\s*fragment:(.*)-->$`)

// docBlocks returns every ```hcl block of README.md, docs/**/*.md(x) and
// example/**/README.md.
func docBlocks(t *testing.T) []docBlock {
	files := []string{filepath.Join(repoRoot, "README.md")}
	for _, root := range []string{"docs", "example"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, root), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if root == "docs" && (strings.HasSuffix(path, ".md") || strings.HasSuffix(path, ".mdx")) ||
				root == "example" && d.Name() == "README.md" {
				files = append(files, path)
			}
			return nil
		})
		require.NoError(t, err)
	}
	var blocks []docBlock
	for _, path := range files {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		rel, _ := filepath.Rel(repoRoot, path)
		var cur *docBlock
		prev := "" // the last non-blank line outside a block
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			trimmed := strings.TrimSpace(line)
			switch {
			case cur == nil && trimmed == "```hcl":
				cur = &docBlock{where: fmt.Sprintf("%s:%d", rel, n)}
				if m := fragmentMarker.FindStringSubmatch(prev); m != nil {
					cur.marker = m[1]
				}
			case cur != nil && trimmed == "```":
				blocks = append(blocks, *cur)
				cur = nil
			case cur != nil:
				cur.text += line + "\n"
			case trimmed != "":
				prev = trimmed
			}
		}
		require.Nil(t, cur, "%s: unterminated ```hcl block", rel)
	}
	return blocks
}

func hasBlock(body *hclsyntax.Body, typ string) bool {
	return slices.ContainsFunc(body.Blocks, func(b *hclsyntax.Block) bool { return b.Type == typ })
}

// wrapFragment completes a fragment with a build: lone post-processor blocks
// go inside it, everything else stays top-level. The build uses the
// fragment's own sources, so Packer checks them too, or else a file source.
func wrapFragment(body *hclsyntax.Body, text string) string {
	var sources []string
	for _, b := range body.Blocks {
		if b.Type == "source" && len(b.Labels) == 2 {
			sources = append(sources, fmt.Sprintf("%q", "source."+b.Labels[0]+"."+b.Labels[1]))
		}
	}
	if len(sources) == 0 {
		// Before the fragment: the build that wraps a post-processor runs
		// to the end of the text.
		text = "source \"file\" \"docs\" {\n  content = \"docs\"\n  target  = \"out/docs.img\"\n}\n" + text
		sources = []string{`"source.file.docs"`}
	}
	build := "build {\n  sources = [" + strings.Join(sources, ", ") + "]\n"
	if hasBlock(body, "post-processor") {
		return strings.Replace(text, "post-processor", build+"post-processor", 1) + "}\n"
	}
	return text + build + "}\n"
}

// buildable: only the file and null builders and the local backend, so a
// build runs offline.
func buildable(body *hclsyntax.Body, text string) bool {
	for _, b := range body.Blocks {
		if b.Type == "source" && len(b.Labels) > 0 && b.Labels[0] != "file" && b.Labels[0] != "null" {
			return false
		}
	}
	return !regexp.MustCompile(`backend\s*=\s*"aws"`).MatchString(text)
}

// seedRelease records one release of the family a data "lifecycle-image"
// block reads (in its channel, within its version constraint), so the
// example finds the parent its prose assumes exists.
func seedRelease(t *testing.T, dir string, data *hclsyntax.Block) {
	attr := func(name, def string) string {
		a, ok := data.Body.Attributes[name]
		if !ok {
			return def
		}
		v, diags := a.Expr.Value(nil)
		require.False(t, diags.HasErrors(), "data %q: %s must be a literal for the docs test", data.Labels[1], name)
		return v.AsString()
	}
	family, channel := attr("family", ""), attr("channel", "stable")
	ver := "1.0.0"
	if c := attr("version_constraint", ""); c != "" {
		cs, err := version.NewConstraint(c)
		require.NoError(t, err)
		ver = ""
		for major := range 10 {
			if v := version.Must(version.NewVersion(fmt.Sprintf("%d.0.0", major))); cs.Check(v) {
				ver = v.String()
				break
			}
		}
		require.NotEmpty(t, ver, "no version 0.0.0 to 9.0.0 satisfies %q", c)
	}
	seed := filepath.Join(dir, "seed-"+family)
	require.NoError(t, os.MkdirAll(seed, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(seed, "seed.pkr.hcl"), []byte(fmt.Sprintf(`
source "file" "seed" {
  content = "%[1]s %[3]s"
  target  = "out/%[1]s-%[3]s.img"
}
build {
  sources = ["source.file.seed"]
  post-processor "lifecycle" {
    family  = %[1]q
    channel = %[2]q
    version = %[3]q
  }
}
`, family, channel, ver)), 0o644))
	// Built from dir so the release lands in dir's ./.packer-lifecycle.
	mustSucceed(t, packer(dir, "build", filepath.Join("seed-"+family, "seed.pkr.hcl")))
}
