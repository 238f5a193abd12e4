package gceemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// filterExpr is a parsed list filter: field OP value terms combined with AND, OR,
// NOT, juxtaposition (AND) and parentheses. OPs: = != > < >= <= : (has) and the
// regular-expression forms eq and ne, whose value must match the whole field.
type filterExpr interface{ eval(obj map[string]any) bool }

type andExpr struct{ l, r filterExpr }
type orExpr struct{ l, r filterExpr }
type notExpr struct{ e filterExpr }
type cmpExpr struct {
	field, op, value string
	re               *regexp.Regexp
}

func (e andExpr) eval(o map[string]any) bool { return e.l.eval(o) && e.r.eval(o) }
func (e orExpr) eval(o map[string]any) bool  { return e.l.eval(o) || e.r.eval(o) }
func (e notExpr) eval(o map[string]any) bool { return !e.e.eval(o) }

func (e cmpExpr) eval(o map[string]any) bool {
	v, ok := lookup(o, e.field)
	switch e.op {
	case "eq":
		return ok && e.re.MatchString(v)
	case "ne":
		return !ok || !e.re.MatchString(v)
	case "=":
		return ok && globMatch(e.value, v)
	case "!=":
		return !ok || !globMatch(e.value, v)
	case ":":
		return ok && (e.value == "*" || globMatch(e.value, v) || strings.Contains(v, e.value))
	}
	if !ok {
		return false
	}
	c := compareValues(v, e.value)
	switch e.op {
	case ">":
		return c > 0
	case "<":
		return c < 0
	case ">=":
		return c >= 0
	case "<=":
		return c <= 0
	}
	return false
}

func globMatch(pattern, v string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == v
	}
	ok, _ := path.Match(pattern, v)
	return ok
}

func compareValues(a, b string) int {
	fa, ea := strconv.ParseFloat(a, 64)
	fb, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

// lookup walks a dotted field path through an object decoded from JSON.
func lookup(o map[string]any, field string) (string, bool) {
	var cur any = o
	for _, k := range strings.Split(field, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[k]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case nil:
		return "", false
	}
	b, _ := json.Marshal(cur)
	return string(b), true
}

type filterParser struct {
	s   string
	pos int
}

// parseFilter parses a GCE list filter; "" matches everything.
func parseFilter(s string) (filterExpr, error) {
	p := &filterParser{s: s}
	p.skip()
	if p.pos == len(p.s) {
		return nil, nil
	}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.pos != len(p.s) {
		return nil, fmt.Errorf("unexpected %q at %d", p.s[p.pos:], p.pos)
	}
	return e, nil
}

func (p *filterParser) skip() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n') {
		p.pos++
	}
}

func (p *filterParser) keyword(k string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.pos:], k) {
		end := p.pos + len(k)
		if end == len(p.s) || p.s[end] == ' ' || p.s[end] == '(' {
			p.pos = end
			return true
		}
	}
	return false
}

func (p *filterParser) expr() (filterExpr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("OR") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orExpr{l, r}
	}
	return l, nil
}

func (p *filterParser) and() (filterExpr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if p.pos == len(p.s) || p.s[p.pos] == ')' || strings.HasPrefix(p.s[p.pos:], "OR ") || strings.HasPrefix(p.s[p.pos:], "OR(") {
			return l, nil
		}
		p.keyword("AND")
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = andExpr{l, r}
	}
}

func (p *filterParser) unary() (filterExpr, error) {
	if p.keyword("NOT") {
		e, err := p.unary()
		return notExpr{e}, err
	}
	p.skip()
	if p.pos < len(p.s) && p.s[p.pos] == '-' {
		p.pos++
		e, err := p.unary()
		return notExpr{e}, err
	}
	if p.pos < len(p.s) && p.s[p.pos] == '(' {
		p.pos++
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		p.skip()
		if p.pos >= len(p.s) || p.s[p.pos] != ')' {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return e, nil
	}
	return p.cmp()
}

func (p *filterParser) cmp() (filterExpr, error) {
	p.skip()
	start := p.pos
	for p.pos < len(p.s) && !strings.ContainsRune(" \t()=!<>:~\"", rune(p.s[p.pos])) {
		p.pos++
	}
	field := p.s[start:p.pos]
	if field == "" {
		return nil, fmt.Errorf("expected a field name at %d", start)
	}
	p.skip()
	var op string
	for _, o := range []string{"!=", ">=", "<=", "=", ">", "<", ":", "eq ", "ne "} {
		if strings.HasPrefix(p.s[p.pos:], o) {
			op = strings.TrimSpace(o)
			p.pos += len(o)
			break
		}
	}
	if op == "" {
		return nil, fmt.Errorf("expected an operator after %q", field)
	}
	p.skip()
	value, err := p.value()
	if err != nil {
		return nil, err
	}
	e := cmpExpr{field: field, op: op, value: value}
	if op == "eq" || op == "ne" {
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return nil, fmt.Errorf("bad regular expression %q: %v", value, err)
		}
		e.re = re
	}
	return e, nil
}

func (p *filterParser) value() (string, error) {
	if p.pos < len(p.s) && (p.s[p.pos] == '"' || p.s[p.pos] == '\'') {
		q := p.s[p.pos]
		p.pos++
		var b strings.Builder
		for p.pos < len(p.s) && p.s[p.pos] != q {
			if p.s[p.pos] == '\\' && p.pos+1 < len(p.s) && (p.s[p.pos+1] == q || p.s[p.pos+1] == '\\') {
				p.pos++
			}
			b.WriteByte(p.s[p.pos])
			p.pos++
		}
		if p.pos == len(p.s) {
			return "", fmt.Errorf("unterminated string")
		}
		p.pos++
		return b.String(), nil
	}
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] != ' ' && p.s[p.pos] != ')' {
		p.pos++
	}
	if start == p.pos {
		return "", fmt.Errorf("expected a value at %d", start)
	}
	return p.s[start:p.pos], nil
}

// listOpts are the parsed filter, orderBy, maxResults and pageToken of a list call.
type listOpts struct {
	filter filterExpr
	desc   bool // creationTimestamp desc
	max    int
	offset int
}

func (c *req) listOpts() (*listOpts, *apiError) {
	o := &listOpts{max: 500}
	f, err := parseFilter(c.q.Get("filter"))
	if err != nil {
		return nil, invalid("Invalid value for field 'filter': '%s'. Invalid list filter expression: %v.", c.q.Get("filter"), err)
	}
	o.filter = f
	switch ob := strings.Join(strings.Fields(c.q.Get("orderBy")), " "); ob {
	case "", "name":
	case "creationTimestamp desc":
		o.desc = true
	default:
		return nil, invalid("Invalid value for field 'orderBy': '%s'. Only 'name' and 'creationTimestamp desc' are supported.", ob)
	}
	if m := c.q.Get("maxResults"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 || n > 500 {
			return nil, invalid("Invalid value for field 'maxResults': '%s'. Must be less than or equal to 500", m)
		}
		if n > 0 {
			o.max = n
		}
	}
	if t := c.q.Get("pageToken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "gceemu:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "gceemu:") || n < 0 {
			return nil, invalid("Invalid value for field 'pageToken': '%s'. Invalid page token.", t)
		}
		o.offset = n
	}
	return o, nil
}

func pageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("gceemu:" + strconv.Itoa(offset)))
}

// matches says whether a resource passes the filter.
func (o *listOpts) matches(v any) bool {
	if o.filter == nil {
		return true
	}
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return o.filter.eval(m)
}

// page filters, orders and paginates items (already cloned); name and ts read a
// resource's name and creationTimestamp.
func page[T any](o *listOpts, items []*T, name, ts func(*T) string) ([]*T, string) {
	var kept []*T
	for _, it := range items {
		if o.matches(it) {
			kept = append(kept, it)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool {
		if o.desc {
			ti, tj := parseTS(ts(kept[i])), parseTS(ts(kept[j]))
			if !ti.Equal(tj) {
				return ti.After(tj)
			}
		}
		return name(kept[i]) < name(kept[j])
	})
	if o.offset >= len(kept) {
		return nil, ""
	}
	kept = kept[o.offset:]
	if len(kept) > o.max {
		return kept[:o.max], pageToken(o.offset + o.max)
	}
	return kept, ""
}
