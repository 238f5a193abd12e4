package ec2emu

import (
	"encoding/base64"
	"sort"
	"strconv"
	"strings"
)

// fieldsFunc returns the values a resource has for a filter name; ok is false for a
// filter the resource type does not support.
type fieldsFunc func(name string) (values []string, ok bool)

// matches ANDs the filters and ORs each filter's values (with * and ? wildcards). Tag
// filters (tag:K, tag-key, tag-value) are common to every resource type.
func (c *call) matches(fs []filter, id string, fields fieldsFunc) (bool, error) {
	for _, f := range fs {
		vals, err := c.filterValues(f.Name, id, fields)
		if err != nil {
			return false, err
		}
		if !anyMatch(f.Values, vals) {
			return false, nil
		}
	}
	return true, nil
}

func (c *call) filterValues(name, id string, fields fieldsFunc) ([]string, error) {
	tags := c.tagsOf(id)
	switch {
	case strings.HasPrefix(name, "tag:"):
		if v, ok := tags[name[4:]]; ok {
			return []string{v}, nil
		}
		return nil, nil
	case name == "tag-key" || name == "tag-value":
		var out []string
		for k, v := range tags {
			if name == "tag-key" {
				out = append(out, k)
			} else {
				out = append(out, v)
			}
		}
		return out, nil
	}
	if v, ok := fields(name); ok {
		return v, nil
	}
	return nil, badParam("The filter '%s' is invalid", name)
}

func anyMatch(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if glob(p, v) {
				return true
			}
		}
	}
	return false
}

func vals(v ...string) []string { return v }

func boolStr(b bool) string { return strconv.FormatBool(b) }

// page applies MaxResults/NextToken to a sorted result of total items. Without
// MaxResults everything from the token on is returned in one response, as EC2 does.
func (c *call) page(total, minResults, maxResults int) (start, end int, next string, err error) {
	return c.pageBy("MaxResults", total, minResults, maxResults, 0)
}

// pageBy pages with the size parameter param; def is the page size when it is absent
// (0: everything).
func (c *call) pageBy(param string, total, minResults, maxResults, def int) (start, end int, next string, err error) {
	if tok := c.str("NextToken"); tok != "" {
		start, err = decodeToken(tok)
		if err != nil || start > total {
			return 0, 0, "", badParam("Unable to parse pagination token: %s", tok)
		}
	}
	size := total - start
	if def > 0 {
		size = min(def, size)
	}
	if c.str(param) != "" {
		n, err := c.integer(param, 0)
		if err != nil {
			return 0, 0, "", err
		}
		if n < minResults || n > maxResults {
			return 0, 0, "", badParam("Value ( %d ) for parameter %s is invalid. Expecting a value between %d and %d.", n, param, minResults, maxResults)
		}
		size = min(n, total-start)
	}
	end = start + size
	if end < total {
		next = encodeToken(end)
	}
	return start, end, next, nil
}

func encodeToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("ec2emu:" + strconv.Itoa(offset)))
}

func decodeToken(tok string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimPrefix(string(b), "ec2emu:"))
}

// sortedKeys returns a map's keys in order, so listings and pages are stable.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// set is an EC2 list element (<xSet><item>…</item></xSet>) that is emitted even when
// empty, as EC2 does, so botocore gives [] rather than a missing key.
type set[T any] struct {
	Items []T `xml:"item"`
}
