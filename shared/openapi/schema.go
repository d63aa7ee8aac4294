package openapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Schema is one JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1).
type Schema = map[string]any

// direction says what a schema describes: what fedgate answers (exactly what
// encoding/json writes: members without omitempty are always there, nil
// slices, maps and pointers are null) or what it decodes (strictly: unknown
// members are refused, nothing is required by the decoder itself).
type direction int

const (
	answer direction = iota
	request
)

var (
	timeType      = reflect.TypeFor[time.Time]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
)

// registry turns Go types into component schemas, one per named struct type
// and direction.
type registry struct {
	schemas Schema                       // component name → schema
	names   map[typeKey]string           // the component of each type
	owners  map[string]typeKey           // the type of each component name
	refine  map[string]Schema            // "Type.member" → keywords added to the member
	used    map[string]bool              // refinements applied
	fields  map[string]map[string]string // component → member → Go type name (for tests)
}

type typeKey struct {
	t   reflect.Type
	dir direction
}

func newRegistry(refine map[string]Schema) *registry {
	return &registry{schemas: Schema{}, names: map[typeKey]string{}, owners: map[string]typeKey{},
		refine: refine, used: map[string]bool{}, fields: map[string]map[string]string{}}
}

// of returns the schema of t: a $ref for named structs, inline otherwise.
func (r *registry) of(t reflect.Type, dir direction) Schema {
	switch {
	case t == timeType:
		return Schema{"type": "string", "format": "date-time"}
	case t == rawType:
		return Schema{} // any JSON value
	case t.Kind() != reflect.Pointer && (t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType)):
		return Schema{} // its own encoding: nothing to say about its shape
	case t.Kind() != reflect.Pointer && (t.Implements(textType) || reflect.PointerTo(t).Implements(textType)):
		return Schema{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return Schema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return Schema{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return Schema{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return Schema{"type": "number"}
	case reflect.String:
		return Schema{"type": "string"}
	case reflect.Pointer:
		return r.of(t.Elem(), dir)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return Schema{"type": "string", "contentEncoding": "base64"}
		}
		return Schema{"type": "array", "items": r.of(t.Elem(), dir)}
	case reflect.Map:
		return Schema{"type": "object", "additionalProperties": r.of(t.Elem(), dir)}
	case reflect.Interface:
		return Schema{}
	case reflect.Struct:
		return r.ref(t, dir)
	}
	panic(fmt.Sprintf("openapi: no JSON Schema for %s", t))
}

// ref registers a struct type as a component and returns a $ref to it.
func (r *registry) ref(t reflect.Type, dir direction) Schema {
	key := typeKey{t, dir}
	name, ok := r.names[key]
	if !ok {
		name = r.nameFor(t, dir)
		r.names[key], r.owners[name] = name, key
		r.schemas[name] = Schema{} // placeholder: recursive types end here
		r.schemas[name] = r.object(t, dir, name)
	}
	return Schema{"$ref": "#/components/schemas/" + name}
}

// nameFor picks a component name: the Go type's name (Page[…Connection]
// becomes ConnectionPage), qualified by its package when two types share
// it, with "Input" for a type that is also answered.
func (r *registry) nameFor(t reflect.Type, dir direction) string {
	name := t.Name()
	if base, arg, ok := strings.Cut(name, "["); ok {
		arg = strings.TrimSuffix(arg, "]")
		arg = arg[strings.LastIndexAny(arg, "./")+1:]
		name = arg + base
	}
	if name == "" {
		panic(fmt.Sprintf("openapi: anonymous struct %s needs a named type", t))
	}
	if owner, taken := r.owners[name]; taken && owner.t != t {
		pkg := t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:]
		name = string(unicode.ToUpper(rune(pkg[0]))) + pkg[1:] + name
	}
	if owner, taken := r.owners[name]; taken && owner.t == t && owner.dir != dir {
		name += "Input"
	}
	return name
}

// object is the schema of a struct's JSON members, following encoding/json:
// embedded structs' members are promoted, "-" and unexported fields skipped.
func (r *registry) object(t reflect.Type, dir direction, component string) Schema {
	props := Schema{}
	var required []string
	r.fields[component] = map[string]string{}
	for _, f := range jsonFields(t) {
		s := r.of(f.typ, dir)
		if f.asString {
			s = Schema{"type": "string"}
		}
		if dir == answer && !f.omit && nullable(f.typ) {
			s = orNull(s)
		}
		if extra, ok := r.refine[t.Name()+"."+f.name]; ok {
			s = merge(s, extra)
			r.used[t.Name()+"."+f.name] = true
		}
		props[f.name] = s
		r.fields[component][f.name] = f.typ.String()
		if dir == answer && !f.omit {
			required = append(required, f.name)
		}
	}
	out := Schema{"type": "object", "properties": props}
	if len(required) > 0 {
		slices.Sort(required)
		out["required"] = required
	}
	// Answers are exactly these members; requests are decoded strictly
	// (DisallowUnknownFields), so neither has others.
	out["additionalProperties"] = false
	return out
}

// nullable reports whether encoding/json may write null for a value of t.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return t != rawType // a nil RawMessage is null, and {} already allows it
	}
	return false
}

func orNull(s Schema) Schema {
	if typ, ok := s["type"].(string); ok {
		out := merge(s, nil)
		out["type"] = []string{typ, "null"}
		return out
	}
	if len(s) == 0 {
		return s
	}
	return Schema{"anyOf": []any{s, Schema{"type": "null"}}}
}

func merge(a, b Schema) Schema {
	out := Schema{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// jsonField is one member of a struct's JSON form.
type jsonField struct {
	name     string
	typ      reflect.Type
	omit     bool // omitempty or omitzero: the member may be missing
	asString bool // the ",string" option
	depth    int
	tagged   bool
}

// jsonFields lists a struct's JSON members as encoding/json writes them:
// promoted members of embedded structs, and among members of one name the
// shallowest wins (a tagged one among equals; ambiguous ones are dropped).
func jsonFields(t reflect.Type) []jsonField {
	var all []jsonField
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := sf.Type
			if sf.Anonymous {
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name == "" && ft.Kind() == reflect.Struct {
					walk(ft, depth+1)
					continue
				}
				if !sf.IsExported() && ft.Kind() != reflect.Struct {
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			f := jsonField{name: name, typ: sf.Type, depth: depth, tagged: name != ""}
			if f.name == "" {
				f.name = sf.Name
			}
			for _, o := range strings.Split(opts, ",") {
				switch o {
				case "omitempty", "omitzero":
					f.omit = true
				case "string":
					f.asString = isScalar(sf.Type)
				}
			}
			all = append(all, f)
		}
	}
	walk(t, 0)
	var out []jsonField
	for _, f := range all {
		if slices.ContainsFunc(out, func(o jsonField) bool { return o.name == f.name }) {
			continue
		}
		var same []jsonField
		for _, g := range all {
			if g.name == f.name {
				same = append(same, g)
			}
		}
		best := slices.MinFunc(same, func(a, b jsonField) int { return a.depth - b.depth })
		var top []jsonField
		for _, g := range same {
			if g.depth == best.depth && (g.tagged || !slices.ContainsFunc(same, func(h jsonField) bool { return h.depth == best.depth && h.tagged })) {
				top = append(top, g)
			}
		}
		if len(top) == 1 {
			out = append(out, top[0])
		}
	}
	return out
}

func isScalar(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// Member is one member of a struct's JSON form.
type Member struct {
	Name     string
	Type     string // the Go type
	Optional bool   // omitempty or omitzero
}

// Members lists the JSON members of a struct type as encoding/json writes
// them, sorted by name (tests compare types member for member with it).
func Members(t reflect.Type) []Member {
	var out []Member
	for _, f := range jsonFields(t) {
		out = append(out, Member{Name: f.name, Type: f.typ.String(), Optional: f.omit})
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}
