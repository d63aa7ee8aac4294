package federation

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fedgate/fedgate/shared/signing"
)

// The bounds of a content filter (PROTOCOL.md §8, content filters).
const (
	MaxFilterBytes       = 2048   // RFC 8785 bytes of the whole filter
	MaxFilterLevels      = 5      // object levels, the filter's root being 1
	MaxFilterConditions  = 100    // literals and condition objects in leaves, plus each anything-but value
	MaxFilterComparisons = 10_000 // per evaluation of one filter against one payload; beyond, no match
)

// Filter is a parsed, validated content filter: the object that mirrors the
// payload (PROTOCOL.md §8), compiled once so that evaluating it against each
// event allocates nothing. A nil *Filter is "no filter" and selects every
// event; so does the zero Filter, which is what a JSON null decodes to.
type Filter struct {
	root      filterObject
	canonical string
}

// filterObject is one level of the filter: every field must match (AND).
type filterObject struct {
	fields []filterField // in RFC 8785 order, so "the first key that failed" is the one a reader sees first
}

// filterField is one key of a filter object: either a nested object (descend
// into the payload's object at that key) or a leaf (conditions, any of which
// may match).
type filterField struct {
	key  string
	path string // as explanations write it: labels.kind, ["a.b"]
	sub  *filterObject
	leaf *filterLeaf
}

// filterLeaf holds a leaf's conditions grouped by the payload type they can
// match, so a value is only tried against the conditions of its own type.
type filterLeaf struct {
	existsTrue, existsFalse bool
	eqTrue, eqFalse, eqNull bool
	strs                    []string
	nums                    []float64
	prefixes, suffixes      []string
	numerics                []numericCondition
	anythingBut             []anythingBut
}

// numericCondition is one or two comparisons; two mean both.
type numericCondition struct {
	ops  [2]string
	vals [2]float64
	n    int
}

// anythingBut matches any present string, number or boolean not in its list.
type anythingBut struct {
	strs []string
	nums []float64
}

var numericOps = []string{"<", "<=", "=", ">=", ">"}

// ParseFilter validates a filter as it arrives (a subscribe body, a peer's
// event.subscribe or event.sync, the filter-test endpoint) and compiles it.
// Absent or null is no filter: (nil, nil). Every error is validation_failed
// naming the path (filter.priority[0].numeric), or filter for a size or
// count violation.
func ParseFilter(raw json.RawMessage) (*Filter, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if !json.Valid(raw) {
		return nil, Invalidf("filter is not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, Invalidf("filter is not valid JSON")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, Invalidf("filter must be a JSON object")
	}
	// Canonical bytes are what the size bound counts, what a store keeps and
	// what a re-subscription is compared by, so that key order, white space
	// and number spelling (1e2, 100) never make two equal filters differ.
	// The size is checked before the walk so that a large input costs one
	// linear pass; a filter that cannot be canonicalized is walked first all
	// the same, because the walk names the path of a bad number.
	canon, cerr := signing.Canonicalize(raw)
	if cerr == nil && len(canon) > MaxFilterBytes {
		return nil, Invalidf("filter is %d bytes in canonical form (RFC 8785); at most %d", len(canon), MaxFilterBytes)
	}
	c := filterCompiler{}
	root, err := c.object(m, "filter", "", 1)
	if err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, Invalidf("filter cannot be canonicalized (RFC 8785): %s", Shorten(strings.TrimPrefix(cerr.Error(), "canonicalize: "), 80))
	}
	return &Filter{root: *root, canonical: string(canon)}, nil
}

// String is the filter's RFC 8785 form: equal filters have equal strings.
// No filter (nil, or the zero Filter) is "".
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.canonical
}

// JSON is the filter's RFC 8785 form, or nil for no filter.
func (f *Filter) JSON() json.RawMessage {
	if f == nil || f.canonical == "" {
		return nil
	}
	return json.RawMessage(f.canonical)
}

// MarshalJSON writes the canonical form, or null for no filter.
func (f *Filter) MarshalJSON() ([]byte, error) {
	if f == nil || f.canonical == "" {
		return []byte("null"), nil
	}
	return []byte(f.canonical), nil
}

// UnmarshalJSON parses and validates, so a decoded filter is always a valid
// one. null leaves f as it is, as encoding/json expects.
func (f *Filter) UnmarshalJSON(b []byte) error {
	g, err := ParseFilter(b)
	if err != nil || g == nil {
		return err
	}
	*f = *g
	return nil
}

// DecodePayload decodes an event's payload once, to be shared by every
// filter evaluated against it. Numbers become float64: the I-JSON numbers a
// signed payload may hold (CheckNumbers) are exact there, so 3, 3.0 and 3e0
// compare equal without parsing a number per comparison. Absent is null.
func DecodePayload(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		if nerr := CheckNumbers(raw); nerr != nil {
			return nil, nerr // a number beyond a double, named
		}
		return nil, Errorf(CodeInvalidJSON, "payload is not valid JSON")
	}
	return v, nil
}

// Matches reports whether the filter selects a payload as DecodePayload
// returns it (json.Number is accepted too). It is the fan-out's hot path:
// it allocates nothing.
func (f *Filter) Matches(payload any) bool {
	if f == nil {
		return true
	}
	var st evaluation
	return f.root.match(payload, &st) && !st.exhausted
}

// Match is Matches with the sentence that says which key decided, for
// POST /events/filters/test and for an IGNORED event's record.
func (f *Filter) Match(payload any) (bool, string) {
	if f == nil {
		return true, "there is no filter, so every event matches"
	}
	var st evaluation
	ok := f.root.match(payload, &st)
	switch {
	case st.exhausted:
		return false, fmt.Sprintf("the filter needed more than %d comparisons on this payload, which counts as no match", MaxFilterComparisons)
	case ok:
		return true, "every key matched"
	case st.failed == nil: // cannot happen: every false comes from a leaf
		return false, "the payload does not match"
	}
	return false, st.explain()
}

// evaluation is the state of one filter against one payload: the work spent
// and the leaf that failed last, which is the one that decided because every
// AND stops at its first failure.
type evaluation struct {
	spent     int
	exhausted bool
	failed    *filterField
	value     any
	present   bool
	arrays    int  // array-of-objects levels the walk is inside
	inArray   bool // the failed leaf was reached through such an array
}

// step spends one unit of the comparison bound: one filter key looked up in
// one payload value, one array element visited, or one condition (one value
// of an anything-but) tried against one value. Counting element visits and
// key lookups, not only conditions, keeps arrays of empty arrays or of
// objects from being free.
func (st *evaluation) step() bool {
	if st.spent >= MaxFilterComparisons {
		st.exhausted = true
		return false
	}
	st.spent++
	return true
}

func (st *evaluation) fail(f *filterField, v any, present bool) {
	st.failed, st.value, st.present, st.inArray = f, v, present, st.arrays > 0
}

func (st *evaluation) explain() string {
	path := st.failed.path
	switch {
	case st.inArray:
		return path + ": no element of the payload's array has a value the filter allows"
	case !st.present:
		return path + ": the key is missing from the payload, and the filter does not allow that"
	}
	if a, ok := st.value.([]any); ok && len(a) > 0 {
		return fmt.Sprintf("%s: none of the array's %d elements is one of the values the filter allows", path, len(a))
	}
	return path + ": " + describe(st.value) + " is not one of the values the filter allows"
}

// describe renders a payload value for an explanation, short and with every
// control character escaped (it may be logged or shown to a user).
func describe(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an empty array"
	}
	if s, ok := v.(string); ok && len(s) > 64 {
		cut := 60
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		v = s[:cut] + "…"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return "the value"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (o *filterObject) match(v any, st *evaluation) bool {
	if len(o.fields) == 0 {
		return true // {} selects everything, whatever it is applied to
	}
	switch x := v.(type) {
	case map[string]any:
		for i := range o.fields {
			if !st.step() {
				return false
			}
			val, ok := x[o.fields[i].key]
			if !o.fields[i].match(val, ok, st) {
				return false
			}
		}
		return true
	case []any:
		if len(x) == 0 {
			return o.matchMissing(st)
		}
		// A filter object applied to an array of objects matches when one
		// element matches it as a whole, not key by key across elements.
		st.arrays++
		matched := false
		for _, e := range x {
			if !st.step() {
				break
			}
			if matched = o.match(e, st); matched || st.exhausted {
				break
			}
		}
		st.arrays--
		return matched
	default:
		// A scalar or null has no keys: descending into it finds every key missing.
		return o.matchMissing(st)
	}
}

func (o *filterObject) matchMissing(st *evaluation) bool {
	for i := range o.fields {
		if !st.step() {
			return false
		}
		if !o.fields[i].match(nil, false, st) {
			return false
		}
	}
	return true
}

func (f *filterField) match(v any, present bool, st *evaluation) bool {
	if f.sub != nil {
		if !present {
			return f.sub.matchMissing(st)
		}
		return f.sub.match(v, st)
	}
	if f.leaf.match(v, present, st) {
		return true
	}
	if !st.exhausted {
		st.fail(f, v, present)
	}
	return false
}

func (l *filterLeaf) match(v any, present bool, st *evaluation) bool {
	if !present {
		return l.existsFalse
	}
	if l.existsTrue {
		return true // any present value: null, an object, an array
	}
	return l.matchValue(v, st)
}

func (l *filterLeaf) matchValue(v any, st *evaluation) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if !st.step() {
				return false
			}
			if l.matchValue(e, st) {
				return true
			}
			if st.exhausted {
				return false
			}
		}
		return false
	case map[string]any:
		return false // an object matches only {"exists": true}
	case string:
		return l.matchString(x, st)
	case float64:
		return l.matchNumber(x, st)
	case json.Number:
		n, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !isRangeError(err) {
			return false
		}
		return l.matchNumber(n, st)
	case bool:
		if !st.step() {
			return false
		}
		if (x && l.eqTrue) || (!x && l.eqFalse) {
			return true
		}
		return l.anythingButOther(st)
	case nil:
		// A present null matches null and {"exists": true} only: not
		// anything-but, which speaks of values.
		return st.step() && l.eqNull
	}
	return false
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func (l *filterLeaf) matchString(s string, st *evaluation) bool {
	// Go strings are UTF-8, so byte equality and byte prefixes are code
	// point equality and code point prefixes: no normalization, no folding.
	for _, want := range l.strs {
		if !st.step() {
			return false
		}
		if s == want {
			return true
		}
	}
	for _, p := range l.prefixes {
		if !st.step() {
			return false
		}
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	for _, p := range l.suffixes {
		if !st.step() {
			return false
		}
		if strings.HasSuffix(s, p) {
			return true
		}
	}
	for i := range l.anythingBut {
		if l.anythingBut[i].allowsString(s, st) {
			return true
		}
	}
	return false
}

func (l *filterLeaf) matchNumber(n float64, st *evaluation) bool {
	for _, want := range l.nums {
		if !st.step() {
			return false
		}
		if n == want {
			return true
		}
	}
	for i := range l.numerics {
		if !st.step() {
			return false
		}
		if l.numerics[i].holds(n) {
			return true
		}
	}
	for i := range l.anythingBut {
		if l.anythingBut[i].allowsNumber(n, st) {
			return true
		}
	}
	return false
}

// anythingButOther is anything-but against a boolean, which no list can name.
func (l *filterLeaf) anythingButOther(st *evaluation) bool {
	return len(l.anythingBut) > 0 && st.step()
}

func (a *anythingBut) allowsString(s string, st *evaluation) bool {
	if !st.step() {
		return false
	}
	for _, no := range a.strs {
		if !st.step() {
			return false
		}
		if s == no {
			return false
		}
	}
	return true
}

func (a *anythingBut) allowsNumber(n float64, st *evaluation) bool {
	if !st.step() {
		return false
	}
	for _, no := range a.nums {
		if !st.step() {
			return false
		}
		if n == no {
			return false
		}
	}
	return true
}

func (c *numericCondition) holds(n float64) bool {
	for i := range c.n {
		v := c.vals[i]
		var ok bool
		switch c.ops[i] {
		case "<":
			ok = n < v
		case "<=":
			ok = n <= v
		case "=":
			ok = n == v
		case ">=":
			ok = n >= v
		case ">":
			ok = n > v
		}
		if !ok {
			return false
		}
	}
	return true
}

// filterCompiler validates while it compiles, so the grammar is written once.
type filterCompiler struct {
	conditions int
}

func (c *filterCompiler) count(n int) error {
	c.conditions += n
	if c.conditions > MaxFilterConditions {
		return Invalidf("filter has more than %d conditions (each literal and condition object in a leaf counts, and each value of an anything-but list)", MaxFilterConditions)
	}
	return nil
}

// object compiles one filter object. path names it in errors (filter.a.b),
// shown in explanations (a.b).
func (c *filterCompiler) object(m map[string]any, path, shown string, level int) (*filterObject, error) {
	if level > MaxFilterLevels {
		return nil, Invalidf("%s is object level %d of the filter; at most %d levels, the filter's root being 1", path, level, MaxFilterLevels)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareUTF16)
	o := &filterObject{fields: make([]filterField, 0, len(keys))}
	for _, k := range keys {
		fpath, fshown := path+pathKey(k), shownKey(shown, k)
		f := filterField{key: k, path: fshown}
		switch v := m[k].(type) {
		case map[string]any:
			sub, err := c.object(v, fpath, fshown, level+1)
			if err != nil {
				return nil, err
			}
			f.sub = sub
		case []any:
			leaf, err := c.leaf(v, fpath)
			if err != nil {
				return nil, err
			}
			f.leaf = leaf
		default:
			return nil, Invalidf("%s must be an array of conditions or a nested filter object", fpath)
		}
		o.fields = append(o.fields, f)
	}
	return o, nil
}

func (c *filterCompiler) leaf(conds []any, path string) (*filterLeaf, error) {
	if len(conds) == 0 {
		return nil, Invalidf("%s is an empty array; a leaf needs at least one condition", path)
	}
	l := &filterLeaf{}
	for i, cond := range conds {
		cpath := path + "[" + strconv.Itoa(i) + "]"
		if err := c.count(1); err != nil {
			return nil, err
		}
		switch v := cond.(type) {
		case nil:
			l.eqNull = true
		case bool:
			l.eqTrue, l.eqFalse = l.eqTrue || v, l.eqFalse || !v
		case string:
			l.strs = append(l.strs, v)
		case json.Number:
			n, err := filterNumber(v, cpath)
			if err != nil {
				return nil, err
			}
			l.nums = append(l.nums, n)
		case map[string]any:
			if err := c.condition(l, v, cpath); err != nil {
				return nil, err
			}
		default:
			return nil, Invalidf("%s must be a string, number, boolean, null or a condition object", cpath)
		}
	}
	return l, nil
}

func (c *filterCompiler) condition(l *filterLeaf, m map[string]any, path string) error {
	if len(m) != 1 {
		return Invalidf("%s must have exactly one member, its operator (prefix, suffix, anything-but, numeric or exists)", path)
	}
	for op, arg := range m {
		opath := path + pathKey(op)
		switch op {
		case "prefix", "suffix":
			s, ok := arg.(string)
			if !ok {
				return Invalidf("%s must be a string", opath)
			}
			if op == "prefix" {
				l.prefixes = append(l.prefixes, s)
			} else {
				l.suffixes = append(l.suffixes, s)
			}
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return Invalidf("%s must be true or false", opath)
			}
			l.existsTrue, l.existsFalse = l.existsTrue || b, l.existsFalse || !b
		case "numeric":
			n, err := numericArg(arg, opath)
			if err != nil {
				return err
			}
			l.numerics = append(l.numerics, n)
		case "anything-but":
			a, err := c.anythingButArg(arg, opath)
			if err != nil {
				return err
			}
			l.anythingBut = append(l.anythingBut, a)
		default:
			return Invalidf("%s is not an operator; use prefix, suffix, anything-but, numeric or exists", opath)
		}
	}
	return nil
}

func numericArg(arg any, path string) (numericCondition, error) {
	bad := Invalidf(`%s must be one or two comparisons, each an operator (<, <=, =, >=, >) and a number: [">", 0, "<=", 5]`, path)
	list, ok := arg.([]any)
	if !ok || (len(list) != 2 && len(list) != 4) {
		return numericCondition{}, bad
	}
	var n numericCondition
	for i := 0; i < len(list); i += 2 {
		op, ok := list[i].(string)
		if !ok || !slices.Contains(numericOps, op) {
			return numericCondition{}, bad
		}
		num, ok := list[i+1].(json.Number)
		if !ok {
			return numericCondition{}, bad
		}
		v, err := filterNumber(num, path+"["+strconv.Itoa(i+1)+"]")
		if err != nil {
			return numericCondition{}, err
		}
		n.ops[n.n], n.vals[n.n] = op, v
		n.n++
	}
	return n, nil
}

// anythingButArg takes strings and numbers, as EventBridge does: a null or a
// boolean in the list would say little (a present null never matches
// anything-but, and a boolean's opposite is written directly).
func (c *filterCompiler) anythingButArg(arg any, path string) (anythingBut, error) {
	list, ok := arg.([]any)
	if !ok || len(list) == 0 {
		return anythingBut{}, Invalidf("%s must be a non-empty array of strings and numbers", path)
	}
	if err := c.count(len(list)); err != nil {
		return anythingBut{}, err
	}
	var a anythingBut
	for i, v := range list {
		switch x := v.(type) {
		case string:
			a.strs = append(a.strs, x)
		case json.Number:
			n, err := filterNumber(x, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return anythingBut{}, err
			}
			a.nums = append(a.nums, n)
		default:
			return anythingBut{}, Invalidf("%s must be a non-empty array of strings and numbers", path)
		}
	}
	return a, nil
}

func filterNumber(n json.Number, path string) (float64, error) {
	v, err := strconv.ParseFloat(string(n), 64)
	// The I-JSON rule of CheckNumbers, number by number, so that the error
	// names the path. Every number of a valid filter passes through here; a
	// number anywhere else is a grammar error already.
	if err != nil || !faithful(string(n)) {
		return 0, Invalidf("%s: the number %s cannot be represented exactly (an integer beyond ±(2^53 − 1) that no double equals, or a number beyond a double)", path, Shorten(string(n), 40))
	}
	return v, nil
}

// pathKey writes one key of a path: .name when it reads unambiguously,
// otherwise ["quoted"] (a key may hold dots, brackets or control characters).
func pathKey(k string) string {
	if plainKey(k) {
		return "." + k
	}
	return "[" + quoteKey(k) + "]"
}

func shownKey(parent, k string) string {
	if parent == "" && plainKey(k) {
		return k
	}
	return parent + pathKey(k)
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		b := k[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '$') {
			return false
		}
	}
	return true
}

func quoteKey(k string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(Truncate(k, 64)) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// compareUTF16 orders keys as RFC 8785 does (by UTF-16 code units), so the
// fields are tried in the order the canonical form shows them.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return cmp.Compare(utf16Units(ra), utf16Units(rb))
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

// utf16Units packs a rune's UTF-16 encoding into one comparable number: a
// rune above U+FFFF is a surrogate pair (D800–DBFF first), so it sorts
// below U+E000–U+FFFF, unlike in UTF-8.
func utf16Units(r rune) uint32 {
	if hi, lo := utf16.EncodeRune(r); hi != utf8.RuneError {
		return uint32(hi)<<16 | uint32(lo)
	}
	return uint32(r) << 16
}
