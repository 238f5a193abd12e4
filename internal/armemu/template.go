package armemu

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// template evaluates the part of ARM's template language that deployments of
// the azure-arm builder use: parameters, variables, concat, resourceGroup,
// subscription, resourceId, not, empty, equals, toLower. Any other function
// fails the deployment as ARM fails one it cannot evaluate, so an unsupported
// template is loud, never half-deployed.
type template struct {
	params   map[string]any
	rawVars  map[string]any
	vars     map[string]any
	evalling map[string]bool
	sub, rg  string
	location string // the resource group's
}

type rawTemplate struct {
	Parameters map[string]struct {
		Type         string `json:"type"`
		DefaultValue any    `json:"defaultValue"`
	} `json:"parameters"`
	Variables map[string]any   `json:"variables"`
	Resources []map[string]any `json:"resources"`
}

// newTemplate binds a deployment's parameter values ({"name":{"value":v}}) to
// the template's declarations: an undeclared value or a missing one is an error.
func newTemplate(raw *rawTemplate, values map[string]struct {
	Value any `json:"value"`
}, sub, rg, location string) (*template, error) {
	t := &template{params: map[string]any{}, rawVars: raw.Variables, vars: map[string]any{}, evalling: map[string]bool{},
		sub: sub, rg: rg, location: location}
	for name := range values {
		if _, ok := raw.Parameters[name]; !ok {
			return nil, fmt.Errorf("the template parameters '%s' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time", name)
		}
	}
	for name, p := range raw.Parameters {
		if v, ok := values[name]; ok {
			t.params[name] = v.Value
		} else if p.DefaultValue != nil {
			t.params[name] = p.DefaultValue
		} else {
			return nil, fmt.Errorf("the value for the template parameter '%s' is not provided", name)
		}
	}
	return t, nil
}

// eval evaluates every expression in v, a decoded JSON value.
func (t *template) eval(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if strings.HasPrefix(x, "[[") {
			return x[1:], nil // an escaped literal
		}
		if strings.HasPrefix(x, "[") && strings.HasSuffix(x, "]") {
			p := &exprParser{t: t, s: x[1 : len(x)-1]}
			out, err := p.expr()
			if err == nil && p.skipSpace() < len(p.s) {
				err = fmt.Errorf("unexpected %q", p.s[p.i:])
			}
			if err != nil {
				return nil, fmt.Errorf("the template language expression '%s' is not valid: %v", x, err)
			}
			return out, nil
		}
		return x, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ev, err := t.eval(e)
			if err != nil {
				return nil, err
			}
			out[k] = ev
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ev, err := t.eval(e)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return out, nil
	}
	return v, nil
}

func (t *template) variable(name string) (any, error) {
	if v, ok := t.vars[name]; ok {
		return v, nil
	}
	raw, ok := t.rawVars[name]
	if !ok {
		return nil, fmt.Errorf("the template variable '%s' is not found", name)
	}
	if t.evalling[name] {
		return nil, fmt.Errorf("the template variable '%s' refers to itself", name)
	}
	t.evalling[name] = true
	defer delete(t.evalling, name)
	v, err := t.eval(raw)
	if err != nil {
		return nil, err
	}
	t.vars[name] = v
	return v, nil
}

// resourceID is resourceId([subscriptionId,] [resourceGroupName,] type, name...):
// the arguments before the first with a "/" name the scope.
func (t *template) resourceID(args []any) (string, error) {
	strs := make([]string, len(args))
	typeAt := -1
	for i, a := range args {
		s, ok := a.(string)
		if !ok {
			return "", fmt.Errorf("resourceId takes strings")
		}
		strs[i] = s
		if typeAt < 0 && strings.Contains(s, "/") {
			typeAt = i
		}
	}
	if typeAt < 0 || typeAt > 2 {
		return "", fmt.Errorf("resourceId needs a resource type such as 'Microsoft.Network/publicIPAddresses'")
	}
	sub, rg := t.sub, t.rg
	switch typeAt {
	case 1:
		rg = strs[0]
	case 2:
		sub, rg = strs[0], strs[1]
	}
	typ := strings.Split(strings.Trim(strs[typeAt], "/"), "/")
	names := strs[typeAt+1:]
	if len(names) != len(typ)-1 {
		return "", fmt.Errorf("resourceId: type '%s' needs %d names, got %d", strs[typeAt], len(typ)-1, len(names))
	}
	id := rgID(sub, rg) + "/providers/" + typ[0]
	for i, n := range names {
		id += "/" + typ[i+1] + "/" + n
	}
	return id, nil
}

// exprParser reads one expression: a literal string ('it”s'), an integer, or
// a function call followed by property accesses (resourceGroup().location).
type exprParser struct {
	t *template
	s string
	i int
}

func (p *exprParser) skipSpace() int {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
	return p.i
}

func (p *exprParser) expr() (any, error) {
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("an expression is missing")
	}
	switch c := p.s[p.i]; {
	case c == '\'':
		var b strings.Builder
		for p.i++; p.i < len(p.s); p.i++ {
			if p.s[p.i] == '\'' {
				if p.i+1 < len(p.s) && p.s[p.i+1] == '\'' {
					b.WriteByte('\'')
					p.i++
					continue
				}
				p.i++
				return b.String(), nil
			}
			b.WriteByte(p.s[p.i])
		}
		return nil, fmt.Errorf("a string is not closed")
	case c == '-' || c >= '0' && c <= '9':
		j := p.i + 1
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(p.s[p.i:j])
		p.i = j
		return float64(n), err
	}
	j := p.i
	for j < len(p.s) && (p.s[j] == '_' || p.s[j] >= 'a' && p.s[j] <= 'z' || p.s[j] >= 'A' && p.s[j] <= 'Z' || p.s[j] >= '0' && p.s[j] <= '9') {
		j++
	}
	name := p.s[p.i:j]
	p.i = j
	if name == "" || p.skipSpace() >= len(p.s) || p.s[p.i] != '(' {
		return nil, fmt.Errorf("a function call is expected at %q", p.s[j-len(name):])
	}
	p.i++
	var args []any
	for {
		if p.skipSpace() < len(p.s) && p.s[p.i] == ')' {
			p.i++
			break
		}
		a, err := p.expr()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		if p.skipSpace() < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == ')' {
			p.i++
			break
		}
		return nil, fmt.Errorf("',' or ')' is expected after an argument of %s", name)
	}
	v, err := p.call(name, args)
	if err != nil {
		return nil, err
	}
	for p.i < len(p.s) && p.s[p.i] == '.' {
		j := p.i + 1
		for j < len(p.s) && (p.s[j] >= 'a' && p.s[j] <= 'z' || p.s[j] >= 'A' && p.s[j] <= 'Z') {
			j++
		}
		m, ok := v.(map[string]any)
		if !ok || m[p.s[p.i+1:j]] == nil {
			return nil, fmt.Errorf("the property '%s' does not exist", p.s[p.i+1:j])
		}
		v, p.i = m[p.s[p.i+1:j]], j
	}
	return v, nil
}

func (p *exprParser) call(name string, args []any) (any, error) {
	t := p.t
	one := func() (string, error) {
		if len(args) != 1 {
			return "", fmt.Errorf("%s takes one argument", name)
		}
		s, ok := args[0].(string)
		if !ok {
			return "", fmt.Errorf("%s takes a string", name)
		}
		return s, nil
	}
	switch strings.ToLower(name) {
	case "parameters":
		n, err := one()
		if err != nil {
			return nil, err
		}
		v, ok := t.params[n]
		if !ok {
			return nil, fmt.Errorf("the template parameter '%s' is not found", n)
		}
		return v, nil
	case "variables":
		n, err := one()
		if err != nil {
			return nil, err
		}
		return t.variable(n)
	case "concat":
		if len(args) > 0 {
			if _, ok := args[0].([]any); ok {
				var out []any
				for _, a := range args {
					arr, ok := a.([]any)
					if !ok {
						return nil, fmt.Errorf("concat mixes arrays and strings")
					}
					out = append(out, arr...)
				}
				return out, nil
			}
		}
		var b strings.Builder
		for _, a := range args {
			switch x := a.(type) {
			case string:
				b.WriteString(x)
			case float64:
				b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
			default:
				return nil, fmt.Errorf("concat takes strings, not %T", a)
			}
		}
		return b.String(), nil
	case "resourcegroup":
		return map[string]any{"id": rgID(t.sub, t.rg), "name": t.rg, "location": t.location, "type": "Microsoft.Resources/resourceGroups"}, nil
	case "subscription":
		return map[string]any{"id": "/subscriptions/" + t.sub, "subscriptionId": t.sub}, nil
	case "resourceid":
		return t.resourceID(args)
	case "not":
		if len(args) != 1 {
			return nil, fmt.Errorf("not takes one argument")
		}
		b, ok := args[0].(bool)
		if !ok {
			return nil, fmt.Errorf("not takes a boolean")
		}
		return !b, nil
	case "empty":
		if len(args) != 1 {
			return nil, fmt.Errorf("empty takes one argument")
		}
		switch x := args[0].(type) {
		case nil:
			return true, nil
		case string:
			return x == "", nil
		case []any:
			return len(x) == 0, nil
		case map[string]any:
			return len(x) == 0, nil
		}
		return false, nil
	case "equals":
		if len(args) != 2 {
			return nil, fmt.Errorf("equals takes two arguments")
		}
		a, _ := json.Marshal(args[0])
		b, _ := json.Marshal(args[1])
		return string(a) == string(b), nil
	case "tolower":
		s, err := one()
		return strings.ToLower(s), err
	}
	return nil, fmt.Errorf("the template function '%s' is not valid (armemu evaluates parameters, variables, concat, resourceGroup, subscription, resourceId, not, empty, equals, toLower)", name)
}
