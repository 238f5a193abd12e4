#!/usr/bin/env bash
# Turns the docs rendered by `packer-sdc renderdocs` into the layout the
# Packer integrations site reads: .web-docs/README.md and one
# components/<type>/<slug>/README.md per component, without front matter or
# the top heading (the site adds both).
# Usage: compile-to-webdocs.sh <plugin dir> <rendered docs dir> <web docs dir> <org>
set -euo pipefail
root=$1 docs=$1/$2 web=$1/$3

component_type() {
  case "$1" in
    builders) echo builder ;; provisioners) echo provisioner ;;
    post-processors) echo post-processor ;; datasources) echo data-source ;;
    *) echo "unexpected docs folder '$1' (want builders, provisioners, post-processors or datasources)" >&2; return 1 ;;
  esac
}

mkdir -p "$web"
cp "$docs/README.md" "$web/README.md"
find "$docs" -mindepth 2 -name '*.mdx' ! -name index.mdx | sort | while read -r file; do
  rel=${file#"$docs"/}
  type=$(component_type "${rel%%/*}")
  slug=$(basename "$rel" .mdx)
  mkdir -p "$web/components/$type/$slug"
  # Drop the front matter (between the first two '---' lines) and the H1.
  awk 'f<2 { if ($0 == "---") f++; next } !h && /^# / { h=1; next } { print }' "$file" \
    | sed '1{/^$/d}' > "$web/components/$type/$slug/README.md"
done
