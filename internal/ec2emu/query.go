package ec2emu

import (
	"sort"
	"strconv"
	"strings"
)

// str returns a parameter; EC2 treats an empty string like an absent one for most
// parameters, and the amazon plugin sends many empty ones (SubnetId=, VpcId=).
func (c *call) str(name string) string { return c.form.Get(name) }

func (c *call) required(name string) (string, error) {
	v := c.str(name)
	if v == "" {
		return "", errf(400, "MissingParameter", "The request must contain the parameter %s", name)
	}
	return v, nil
}

// boolean parses true/false; absent or empty is false.
func (c *call) boolean(name string) (bool, error) {
	v := c.str(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(strings.ToLower(v))
	if err != nil {
		return false, badParam("Invalid value '%s' for %s: must be true or false", v, name)
	}
	return b, nil
}

// integer parses a number; absent gives def.
func (c *call) integer(name string, def int) (int, error) {
	v := c.str(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badParam("Invalid value '%s' for %s: must be an integer", v, name)
	}
	return n, nil
}

// indexes lists the N of keys "prefix.N" or "prefix.N.…", sorted; lists are 1-indexed
// but clients may skip numbers, so the keys are scanned rather than counted.
func (c *call) indexes(prefix string) []int {
	seen := map[int]bool{}
	for k := range c.form {
		if !strings.HasPrefix(k, prefix+".") {
			continue
		}
		rest := k[len(prefix)+1:]
		if i := strings.IndexByte(rest, '.'); i >= 0 {
			rest = rest[:i]
		}
		if n, err := strconv.Atoi(rest); err == nil {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// list returns the values of prefix.1, prefix.2, …
func (c *call) list(prefix string) []string {
	var out []string
	for _, n := range c.indexes(prefix) {
		if v, ok := c.form[prefix+"."+strconv.Itoa(n)]; ok {
			out = append(out, v[0])
		}
	}
	return out
}

func key(prefix string, n int, field string) string {
	return prefix + "." + strconv.Itoa(n) + "." + field
}

// filter is one Filter.N: a name and ORed values.
type filter struct {
	Name   string
	Values []string
}

func (c *call) filters() []filter {
	var out []filter
	for _, n := range c.indexes("Filter") {
		out = append(out, filter{
			Name:   c.str(key("Filter", n, "Name")),
			Values: c.list(key("Filter", n, "Value")),
		})
	}
	return out
}

// Tag is a key/value pair.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// tagList reads prefix.N.Key / prefix.N.Value; hasValue says whether Value was sent
// (DeleteTags distinguishes "any value" from "empty value").
func (c *call) tagList(prefix string) (tags []Tag, hasValue []bool) {
	for _, n := range c.indexes(prefix) {
		v, has := c.form[key(prefix, n, "Value")]
		t := Tag{Key: c.str(key(prefix, n, "Key"))}
		if has {
			t.Value = v[0]
		}
		tags = append(tags, t)
		hasValue = append(hasValue, has)
	}
	return tags, hasValue
}

// tagSpecs reads TagSpecification.N.ResourceType / .Tag.M.* into type -> tags.
func (c *call) tagSpecs() map[string][]Tag {
	out := map[string][]Tag{}
	for _, n := range c.indexes("TagSpecification") {
		rt := c.str(key("TagSpecification", n, "ResourceType"))
		tags, _ := c.tagList(key("TagSpecification", n, "Tag"))
		out[rt] = append(out[rt], tags...)
	}
	return out
}

// glob matches EC2 filter wildcards: * any run, ? one character.
func glob(pattern, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
