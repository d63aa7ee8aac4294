package federation

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// example is PROTOCOL.md §8's filter.
const example = `{"projectId": ["p-1", "p-2"], "priority": [{"numeric": [">=", 3]}], "labels": [{"prefix": "bug"}]}`

func mustFilter(t testing.TB, s string) *Filter {
	t.Helper()
	f, err := ParseFilter(json.RawMessage(s))
	if err != nil {
		t.Fatalf("ParseFilter(%s): %v", s, err)
	}
	return f
}

// decodeBoth decodes a payload as DecodePayload does (float64) and with
// UseNumber (json.Number), the two forms Matches accepts.
func decodeBoth(t testing.TB, s string) []any {
	t.Helper()
	p, err := DecodePayload(json.RawMessage(s))
	if err != nil {
		t.Fatalf("DecodePayload(%s): %v", s, err)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var n any
	if err := dec.Decode(&n); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return []any{p, n}
}

// Each case is a sentence of PROTOCOL.md §8 turned into a filter and payloads.
var matchCases = []struct {
	name, filter, payload string
	want                  bool
}{
	// The example.
	{"example matches", example, `{"projectId":"p-1","priority":3,"labels":["bug-17","ui"]}`, true},
	{"example, scalar label, fractional priority", example, `{"projectId":"p-2","priority":4.5,"labels":"bugfix"}`, true},
	{"example, other project", example, `{"projectId":"p-9","priority":3,"labels":["bug"]}`, false},
	{"example, low priority", example, `{"projectId":"p-1","priority":2.99,"labels":["bug"]}`, false},
	{"example, priority as a string", example, `{"projectId":"p-1","priority":"5","labels":["bug"]}`, false},
	{"example, prefix is case-sensitive", example, `{"projectId":"p-1","priority":5,"labels":["Bug"]}`, false},
	{"example, labels missing", example, `{"projectId":"p-1","priority":5}`, false},
	{"example, extra payload keys are ignored", example, `{"projectId":"p-1","priority":5,"labels":["bug"],"x":{}}`, true},

	// Numbers compare by value.
	{"3 equals 3.0", `{"n":[3]}`, `{"n":3.0}`, true},
	{"3.0 equals 3", `{"n":[3.0]}`, `{"n":3}`, true},
	{"3 equals 3e0", `{"n":[3]}`, `{"n":3e0}`, true},
	{"1e2 equals 100", `{"n":[1e2]}`, `{"n":100}`, true},
	{"100 equals 1E+2", `{"n":[100]}`, `{"n":1E+2}`, true},
	{"-0 equals 0", `{"n":[0]}`, `{"n":-0}`, true},
	{"0.1 equals 0.10", `{"n":[0.1]}`, `{"n":0.10}`, true},
	{"3 is not 3.5", `{"n":[3]}`, `{"n":3.5}`, false},
	{"a number is not its string", `{"n":[3]}`, `{"n":"3"}`, false},
	{"a string is not its number", `{"s":["3"]}`, `{"s":3}`, false},
	{"large safe integers", `{"n":[9007199254740991]}`, `{"n":9007199254740991}`, true},
	{"large safe integers differ", `{"n":[9007199254740991]}`, `{"n":9007199254740990}`, false},

	// numeric: one or two comparisons, both must hold, numbers only.
	{"range excludes its open end", `{"n":[{"numeric":[">",0,"<=",5]}]}`, `{"n":0}`, false},
	{"range inside", `{"n":[{"numeric":[">",0,"<=",5]}]}`, `{"n":0.5}`, true},
	{"range includes its closed end", `{"n":[{"numeric":[">",0,"<=",5]}]}`, `{"n":5}`, true},
	{"range above", `{"n":[{"numeric":[">",0,"<=",5]}]}`, `{"n":5.01}`, false},
	{"numeric =", `{"n":[{"numeric":["=",3]}]}`, `{"n":3.0}`, true},
	{"numeric <", `{"n":[{"numeric":["<",-1]}]}`, `{"n":-2}`, true},
	{"numeric < at the bound", `{"n":[{"numeric":["<",-1]}]}`, `{"n":-1}`, false},
	{"numeric >=", `{"n":[{"numeric":[">=",1e2]}]}`, `{"n":100}`, true},
	{"numeric never matches null", `{"n":[{"numeric":[">",-1e22]}]}`, `{"n":null}`, false},
	{"numeric never matches a string", `{"n":[{"numeric":[">",0]}]}`, `{"n":"7"}`, false},
	{"numeric never matches a boolean", `{"n":[{"numeric":[">",0]}]}`, `{"n":true}`, false},
	{"numeric never matches an object", `{"n":[{"numeric":[">",0]}]}`, `{"n":{"v":1}}`, false},
	{"numeric on an array: one element in range", `{"n":[{"numeric":[">",0,"<=",5]}]}`, `{"n":[0,7,3]}`, true},
	{"numeric on an array: none in range", `{"n":[{"numeric":[">",0,"<=",5]}]}`, `{"n":[0,7,"3"]}`, false},
	{"an empty range matches nothing", `{"n":[{"numeric":[">",5,"<",3]}]}`, `{"n":4}`, false},

	// prefix and suffix: strings only, case-sensitive, by code point.
	{"prefix", `{"s":[{"prefix":"bug"}]}`, `{"s":"bug-1"}`, true},
	{"prefix equal to the value", `{"s":[{"prefix":"bug"}]}`, `{"s":"bug"}`, true},
	{"prefix longer than the value", `{"s":[{"prefix":"bug"}]}`, `{"s":"bu"}`, false},
	{"empty prefix matches every string", `{"s":[{"prefix":""}]}`, `{"s":""}`, true},
	{"empty prefix matches no number", `{"s":[{"prefix":""}]}`, `{"s":1}`, false},
	{"prefix matches no null", `{"s":[{"prefix":""}]}`, `{"s":null}`, false},
	{"suffix", `{"s":[{"suffix":".png"}]}`, `{"s":"a.png"}`, true},
	{"suffix is case-sensitive", `{"s":[{"suffix":".png"}]}`, `{"s":"a.PNG"}`, false},
	{"prefix on an array", `{"s":[{"prefix":"b"}]}`, `{"s":["a","b"]}`, true},
	{"prefix by code point, escapes decoded", `{"s":[{"prefix":"\u00e9t"}]}`, `{"s":"été"}`, true},
	{"no Unicode normalization", `{"s":["\u00e9"]}`, `{"s":"e\u0301"}`, false},
	{"suffix is not split inside a character", `{"s":[{"suffix":"\u0301"}]}`, `{"s":"e\u0301"}`, true},

	// exists, missing keys and null.
	{"exists true, present", `{"a":[{"exists":true}]}`, `{"a":0}`, true},
	{"exists true, present null", `{"a":[{"exists":true}]}`, `{"a":null}`, true},
	{"exists true, object", `{"a":[{"exists":true}]}`, `{"a":{}}`, true},
	{"exists true, empty array", `{"a":[{"exists":true}]}`, `{"a":[]}`, true},
	{"exists true, missing", `{"a":[{"exists":true}]}`, `{}`, false},
	{"exists false, missing", `{"a":[{"exists":false}]}`, `{"b":1}`, true},
	{"exists false, present null", `{"a":[{"exists":false}]}`, `{"a":null}`, false},
	{"exists false, empty array", `{"a":[{"exists":false}]}`, `{"a":[]}`, false},
	{"exists false or a value", `{"a":[{"exists":false},"x"]}`, `{"a":"x"}`, true},
	{"a missing key matches no literal", `{"a":[null]}`, `{}`, false},
	{"null matches null", `{"a":[null]}`, `{"a":null}`, true},
	{"null is not the string null", `{"a":[null]}`, `{"a":"null"}`, false},
	{"null inside an array", `{"a":[null]}`, `{"a":[1,null]}`, true},
	{"true", `{"a":[true]}`, `{"a":true}`, true},
	{"true is not false", `{"a":[true]}`, `{"a":false}`, false},
	{"false", `{"a":[false]}`, `{"a":false}`, true},
	{"true is not the string", `{"a":[true]}`, `{"a":"true"}`, false},
	{"false is not 0", `{"a":[false]}`, `{"a":0}`, false},
	{"false is not null", `{"a":[false]}`, `{"a":null}`, false},

	// anything-but.
	{"anything-but, another string", `{"a":[{"anything-but":["x","y"]}]}`, `{"a":"z"}`, true},
	{"anything-but, a listed string", `{"a":[{"anything-but":["x","y"]}]}`, `{"a":"y"}`, false},
	{"anything-but, missing key", `{"a":[{"anything-but":["x"]}]}`, `{}`, false},
	{"anything-but, present null", `{"a":[{"anything-but":["x"]}]}`, `{"a":null}`, false},
	{"anything-but, a number against strings", `{"a":[{"anything-but":["x"]}]}`, `{"a":5}`, true},
	{"anything-but, a boolean", `{"a":[{"anything-but":["x"]}]}`, `{"a":true}`, true},
	{"anything-but, an object", `{"a":[{"anything-but":["x"]}]}`, `{"a":{}}`, false},
	{"anything-but, an empty array", `{"a":[{"anything-but":["x"]}]}`, `{"a":[]}`, false},
	{"anything-but, one element not listed", `{"a":[{"anything-but":["x"]}]}`, `{"a":["x","z"]}`, true},
	{"anything-but, every element listed", `{"a":[{"anything-but":["x","y"]}]}`, `{"a":["x","y"]}`, false},
	{"anything-but numbers by value", `{"a":[{"anything-but":[3]}]}`, `{"a":3.0}`, false},
	{"anything-but numbers, another", `{"a":[{"anything-but":[3]}]}`, `{"a":4}`, true},
	{"anything-but numbers, a string", `{"a":[{"anything-but":[3]}]}`, `{"a":"3"}`, true},
	{"anything-but mixed list", `{"a":[{"anything-but":[3,"3"]}]}`, `{"a":"3"}`, false},
	{"anything-but or exists false", `{"a":[{"anything-but":["x"]},{"exists":false}]}`, `{}`, true},

	// Leaves: any condition (OR); keys: all (AND).
	{"OR: a literal", `{"a":["x",{"prefix":"q"},{"numeric":[">",10]}]}`, `{"a":"x"}`, true},
	{"OR: a prefix", `{"a":["x",{"prefix":"q"},{"numeric":[">",10]}]}`, `{"a":"qq"}`, true},
	{"OR: a range", `{"a":["x",{"prefix":"q"},{"numeric":[">",10]}]}`, `{"a":11}`, true},
	{"OR: none", `{"a":["x",{"prefix":"q"},{"numeric":[">",10]}]}`, `{"a":5}`, false},
	{"AND: one key missing", `{"a":["x"],"b":["y"]}`, `{"a":"x"}`, false},
	{"AND: both", `{"a":["x"],"b":["y"]}`, `{"a":"x","b":"y"}`, true},

	// Objects and arrays as values.
	{"an object matches no literal", `{"a":["x"]}`, `{"a":{"b":"x"}}`, false},
	{"an object matches no prefix", `{"a":[{"prefix":""}]}`, `{"a":{}}`, false},
	{"an array matches by an element", `{"a":["x"]}`, `{"a":["w","x"]}`, true},
	{"an array with no matching element", `{"a":["x"]}`, `{"a":["w","y"]}`, false},
	{"arrays at any depth", `{"a":["x"]}`, `{"a":["w",["y",["x"]]]}`, true},
	{"an object inside an array is not a value", `{"a":["x"]}`, `{"a":[{"b":"x"}]}`, false},
	{"an empty array matches no literal", `{"a":[null]}`, `{"a":[]}`, false},

	// Nested filter objects.
	{"nested", `{"a":{"b":["x"]}}`, `{"a":{"b":"x"}}`, true},
	{"nested, other value", `{"a":{"b":["x"]}}`, `{"a":{"b":"y"}}`, false},
	{"nested, into a string", `{"a":{"b":["x"]}}`, `{"a":"x"}`, false},
	{"nested, missing parent", `{"a":{"b":["x"]}}`, `{}`, false},
	{"nested, into an array of objects", `{"a":{"b":["x"]}}`, `{"a":[{"b":"y"},{"b":"x"}]}`, true},
	{"nested, into nested arrays of objects", `{"a":{"b":["x"]}}`, `{"a":[[{"b":"x"}]]}`, true},
	{"nested, array value inside", `{"a":{"b":["x"]}}`, `{"a":{"b":["y",["x"]]}}`, true},
	{"nested, one element must match every key", `{"a":{"b":["x"],"c":["y"]}}`, `{"a":[{"b":"x"},{"c":"y"}]}`, false},
	{"nested, an element matching every key", `{"a":{"b":["x"],"c":["y"]}}`, `{"a":[{"c":"n"},{"b":"x","c":"y"}]}`, true},
	{"nested, three levels", `{"a":{"b":{"c":[1]}}}`, `{"a":{"b":{"c":[0,1]}}}`, true},
	{"nested exists false, missing parent", `{"a":{"b":[{"exists":false}]}}`, `{}`, true},
	{"nested exists false, null parent", `{"a":{"b":[{"exists":false}]}}`, `{"a":null}`, true},
	{"nested exists false, scalar parent", `{"a":{"b":[{"exists":false}]}}`, `{"a":7}`, true},
	{"nested exists false, empty object", `{"a":{"b":[{"exists":false}]}}`, `{"a":{}}`, true},
	{"nested exists false, present", `{"a":{"b":[{"exists":false}]}}`, `{"a":{"b":null}}`, false},
	{"nested exists false, empty array parent", `{"a":{"b":[{"exists":false}]}}`, `{"a":[]}`, true},
	{"nested exists false, every element has it", `{"a":{"b":[{"exists":false}]}}`, `{"a":[{"b":1}]}`, false},
	{"nested exists false, one element lacks it", `{"a":{"b":[{"exists":false}]}}`, `{"a":[{"b":1},{}]}`, true},
	{"nested exists true, empty array parent", `{"a":{"b":[{"exists":true}]}}`, `{"a":[]}`, false},

	// {} selects every event, whatever the payload.
	{"{} and an object", `{}`, `{"a":1}`, true},
	{"{} and null", `{}`, `null`, true},
	{"{} and an array", `{}`, `[]`, true},
	{"{} and a string", `{}`, `"x"`, true},
	{"a nested {}", `{"a":{}}`, `{}`, true},
	{"a nested {} and an empty array", `{"a":{}}`, `{"a":[]}`, true},
	{"a payload that is an array", `{"a":["x"]}`, `[{"a":"y"},{"a":"x"}]`, true},
	{"a payload that is a string", `{"a":["x"]}`, `"x"`, false},
	{"keys that need quoting", `{"a.b":["x"],"":[1]}`, `{"a.b":"x","":1}`, true},
	{"keys are case-sensitive", `{"a":["x"]}`, `{"A":"x"}`, false},
}

func TestFilterMatch(t *testing.T) {
	for _, tt := range matchCases {
		f := mustFilter(t, tt.filter)
		for _, p := range decodeBoth(t, tt.payload) {
			if got := f.Matches(p); got != tt.want {
				t.Errorf("%s: Matches(%s, %s) (%T numbers) = %v, want %v", tt.name, tt.filter, tt.payload, p, got, tt.want)
			}
			got, why := f.Match(p)
			if got != tt.want {
				t.Errorf("%s: Match = %v (%s), want %v", tt.name, got, why, tt.want)
			}
			if got != (why == "every key matched") {
				t.Errorf("%s: Match = %v with explanation %q", tt.name, got, why)
			}
		}
		// The reference evaluator below is written from the text, without
		// the compiled form: the two must agree everywhere.
		if got := refMatch(decodeFilter(t, tt.filter), decodeBoth(t, tt.payload)[1]); got != tt.want {
			t.Errorf("%s: the reference evaluator says %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNoFilter(t *testing.T) {
	for _, raw := range []string{"", "null", "  null\n", " "} {
		f, err := ParseFilter(json.RawMessage(raw))
		if f != nil || err != nil {
			t.Errorf("ParseFilter(%q) = %v, %v; want no filter", raw, f, err)
		}
	}
	f, err := ParseFilter(nil)
	if f != nil || err != nil {
		t.Fatalf("ParseFilter(nil) = %v, %v", f, err)
	}
	var none *Filter
	if !none.Matches(map[string]any{"a": 1.0}) || !none.Matches(nil) {
		t.Error("no filter must select every event")
	}
	if ok, why := none.Match(nil); !ok || why == "" {
		t.Errorf("Match on no filter = %v, %q", ok, why)
	}
	if none.String() != "" || none.JSON() != nil {
		t.Errorf("no filter's forms: %q %q", none.String(), none.JSON())
	}
	var zero Filter
	if !zero.Matches("x") || zero.JSON() != nil {
		t.Error("the zero Filter must be no filter")
	}
}

func TestDecodePayload(t *testing.T) {
	if p, err := DecodePayload(nil); p != nil || err != nil {
		t.Errorf("no payload: %v, %v", p, err)
	}
	if _, err := DecodePayload(json.RawMessage(`{"a":`)); !HasCode(err, CodeInvalidJSON) {
		t.Errorf("broken JSON: %v", err)
	}
	if _, err := DecodePayload(json.RawMessage(`{"a":1e999}`)); !HasCode(err, CodeValidation) || !strings.Contains(err.Error(), "1e999") {
		t.Errorf("a number beyond a double: %v", err)
	}
}

func TestFilterExplanation(t *testing.T) {
	tests := []struct{ filter, payload, want string }{
		{example, `{"projectId":"p-9","priority":3,"labels":["bug"]}`, `projectId: "p-9" is not one of the values the filter allows`},
		{example, `{"projectId":"p-1","priority":3,"labels":["bug"]}`, `every key matched`},
		// Keys are tried in canonical order: labels before priority before projectId.
		{example, `{"projectId":"p-9","priority":1,"labels":["ui"]}`, `labels: none of the array's 1 elements is one of the values the filter allows`},
		{example, `{"projectId":"p-1","labels":["bug"]}`, `priority: the key is missing from the payload, and the filter does not allow that`},
		{example, `{"projectId":"p-1","priority":"high","labels":"bug"}`, `priority: "high" is not one of the values the filter allows`},
		{example, `{"projectId":"p-1","priority":2.5,"labels":"bug"}`, `priority: 2.5 is not one of the values the filter allows`},
		{`{"a":[{"exists":false}]}`, `{"a":null}`, `a: null is not one of the values the filter allows`},
		{`{"a":["x"]}`, `{"a":{"b":"x"}}`, `a: an object is not one of the values the filter allows`},
		{`{"a":["x"]}`, `{"a":[]}`, `a: an empty array is not one of the values the filter allows`},
		{`{"a":{"b":["x"]}}`, `{"a":{"b":"y"}}`, `a.b: "y" is not one of the values the filter allows`},
		{`{"a":{"b":["x"]}}`, `{"a":[{"b":"y"},{"b":"z"}]}`, `a.b: no element of the payload's array has a value the filter allows`},
		{`{"a":{"b":["x"]}}`, `{}`, `a.b: the key is missing from the payload, and the filter does not allow that`},
		{`{"a.b":{"x y":["x"]}}`, `{}`, `["a.b"]["x y"]: the key is missing from the payload, and the filter does not allow that`},
		{`{"a":["x"]}`, `{"a":"<b>\n` + strings.Repeat("é", 40) + `"}`, `a: "<b>\n` + strings.Repeat("é", 28) + `…" is not one of the values the filter allows`},
		{`{}`, `[]`, `every key matched`},
		// RFC 8785 order is UTF-16 order: U+1F600 (a surrogate pair) before U+E000.
		{`{"\ue000":["x"],"\ud83d\ude00":["y"]}`, `{}`, `["😀"]: the key is missing from the payload, and the filter does not allow that`},
	}
	for _, tt := range tests {
		p, _ := DecodePayload(json.RawMessage(tt.payload))
		_, got := mustFilter(t, tt.filter).Match(p)
		if got != tt.want {
			t.Errorf("Match(%s, %s):\n got %s\nwant %s", tt.filter, tt.payload, got, tt.want)
		}
	}
}

func TestCompareUTF16(t *testing.T) {
	keys := []string{"", "a", "ab", "b", "é", "\ue000", "\uffff", "😀", "😀a", "\U0010ffff", "z\U00010000", "z\uffff"}
	for _, a := range keys {
		for _, b := range keys {
			want := slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
			if got := compareUTF16(a, b); got != want {
				t.Errorf("compareUTF16(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct{ filter, want string }{
		{`[]`, "filter must be a JSON object"},
		{`"x"`, "filter must be a JSON object"},
		{`1`, "filter must be a JSON object"},
		{`true`, "filter must be a JSON object"},
		{`{`, "filter is not valid JSON"},
		{`{} {}`, "filter is not valid JSON"},
		{`{"a":[1],"a":[2]}`, "filter cannot be canonicalized (RFC 8785): Duplicate key"},
		{`{"a":["\ud800"]}`, "filter cannot be canonicalized (RFC 8785): Missing surrogate"},
		{"{\"a\":[\"\xff\"]}", "filter cannot be canonicalized (RFC 8785): Invalid UTF-8"},
		{`{"a":[]}`, "filter.a is an empty array"},
		{`{"a":"x"}`, "filter.a must be an array of conditions or a nested filter object"},
		{`{"a":1}`, "filter.a must be an array of conditions"},
		{`{"a":null}`, "filter.a must be an array of conditions"},
		{`{"a":true}`, "filter.a must be an array of conditions"},
		{`{"a":{"b":{}, "c":[]}}`, "filter.a.c is an empty array"},
		{`{"a":[[1]]}`, "filter.a[0] must be a string, number, boolean, null or a condition object"},
		{`{"a":["x",[]]}`, "filter.a[1] must be a string"},
		{`{"a":[{}]}`, "filter.a[0] must have exactly one member"},
		{`{"a":[{"prefix":"x","suffix":"y"}]}`, "filter.a[0] must have exactly one member"},
		{`{"a":[{"regex":"x"}]}`, "filter.a[0].regex is not an operator"},
		{`{"a":[{"Prefix":"x"}]}`, "filter.a[0].Prefix is not an operator"},
		{`{"a":[{"x y":1}]}`, `filter.a[0]["x y"] is not an operator`},
		{`{"a":[{"prefix":1}]}`, "filter.a[0].prefix must be a string"},
		{`{"a":[{"prefix":["x"]}]}`, "filter.a[0].prefix must be a string"},
		{`{"a":[{"suffix":null}]}`, "filter.a[0].suffix must be a string"},
		{`{"a":[{"exists":"true"}]}`, "filter.a[0].exists must be true or false"},
		{`{"a":[{"exists":1}]}`, "filter.a[0].exists must be true or false"},
		{`{"priority":[{"numeric":[">","3"]}]}`, "filter.priority[0].numeric must be one or two comparisons"},
		{`{"priority":[{"numeric":[">"]}]}`, "filter.priority[0].numeric must be one or two comparisons"},
		{`{"priority":[{"numeric":[]}]}`, "filter.priority[0].numeric must be one or two comparisons"},
		{`{"priority":[{"numeric":[">",1,"<"]}]}`, "filter.priority[0].numeric must be one or two comparisons"},
		{`{"priority":[{"numeric":[">",1,"<",2,"=",3]}]}`, "filter.priority[0].numeric must be one or two comparisons"},
		{`{"priority":[{"numeric":["!=",1]}]}`, "filter.priority[0].numeric must be one or two comparisons"},
		{`{"priority":[{"numeric":["=<",1]}]}`, "filter.priority[0].numeric must be one or two comparisons"},
		{`{"priority":[{"numeric":[1,">"]}]}`, "filter.priority[0].numeric must be one or two comparisons"},
		{`{"priority":[{"numeric":[">",null]}]}`, "filter.priority[0].numeric must be one or two comparisons"},
		{`{"priority":[{"numeric":">"}]}`, "filter.priority[0].numeric must be one or two comparisons"},
		{`{"priority":[{"numeric":[">",1,">",[2]]}]}`, "filter.priority[0].numeric must be one or two comparisons"},
		{`{"priority":[{"numeric":[">",1e999]}]}`, "filter.priority[0].numeric[1]: the number 1e999 cannot be represented exactly"},
		{`{"a":[9007199254740993]}`, "filter.a[0]: the number 9007199254740993 cannot be represented exactly"},
		{`{"a":[9.007199254740993e15]}`, "filter.a[0]: the number 9.007199254740993e15 cannot be represented exactly"},
		{`{"a":[{"anything-but":"x"}]}`, "filter.a[0].anything-but must be a non-empty array of strings and numbers"},
		{`{"a":[{"anything-but":[]}]}`, "filter.a[0].anything-but must be a non-empty array"},
		{`{"a":[{"anything-but":[null]}]}`, "filter.a[0].anything-but must be a non-empty array of strings and numbers"},
		{`{"a":[{"anything-but":["x",true]}]}`, "filter.a[0].anything-but must be a non-empty array of strings and numbers"},
		{`{"a":[{"anything-but":[["x"]]}]}`, "filter.a[0].anything-but must be a non-empty array of strings and numbers"},
		{`{"a":[{"anything-but":[{"prefix":"x"}]}]}`, "filter.a[0].anything-but must be a non-empty array of strings and numbers"},
		{`{"a":[{"anything-but":["x",1E400]}]}`, "filter.a[0].anything-but[1]: the number 1E400 cannot be represented exactly"},
		{`{"a":{"b":[{"numeric":[]}]}}`, "filter.a.b[0].numeric must be one or two comparisons"},
		{`{"a.b":[]}`, `filter["a.b"] is an empty array`},
		{`{"":[]}`, `filter[""] is an empty array`},
		{"{\"a\\nb\":[]}", `filter["a\nb"] is an empty array`},
		{`{"a":{"b":{"c":{"d":{"e":{"f":[1]}}}}}}`, "filter.a.b.c.d.e is object level 6 of the filter; at most 5 levels"},
		{`{"a":{"b":{"c":{"d":{"e":{}}}}}}`, "filter.a.b.c.d.e is object level 6 of the filter"},
		// The first problem in canonical key order is the one named.
		{`{"b":[],"a":"x"}`, "filter.a must be an array"},
	}
	for _, tt := range tests {
		f, err := ParseFilter(json.RawMessage(tt.filter))
		if err == nil {
			t.Errorf("ParseFilter(%s) = %s, want an error", tt.filter, f)
			continue
		}
		e, ok := AsError(err)
		if !ok || e.Code != CodeValidation {
			t.Errorf("ParseFilter(%s): %v is not validation_failed", tt.filter, err)
			continue
		}
		if !strings.HasPrefix(e.Message, tt.want) {
			t.Errorf("ParseFilter(%s):\n got %s\nwant %s…", tt.filter, e.Message, tt.want)
		}
	}
}

func TestParseFilterBounds(t *testing.T) {
	literals := func(n int) string {
		vals := make([]string, n)
		for i := range vals {
			vals[i] = strconv.Itoa(i)
		}
		return strings.Join(vals, ",")
	}
	// {"k":["…"]} is 10 bytes around the string.
	sized := func(n int) string { return `{"k":["` + strings.Repeat("x", n-10) + `"]}` }
	tests := []struct {
		name, filter, err string // err "" means valid
	}{
		{"2048 canonical bytes", sized(2048), ""},
		{"2049 canonical bytes", sized(2049), "filter is 2049 bytes in canonical form (RFC 8785); at most 2048"},
		{"white space is not counted", "{ \"k\" :\n\t[ \"" + strings.Repeat("x", 2038) + "\" ] }", ""},
		{"escapes count as canonicalized", `{"k":["` + strings.Repeat(`\u0078`, 2038) + `"]}`, ""},
		{"numbers count as canonicalized", `{"k":[` + strings.Repeat("1.000000000000000000000000e0,", 90) + `1]}`, ""},
		{"5 object levels", `{"a":{"b":{"c":{"d":{"e":[{"prefix":"x"}]}}}}}`, ""},
		{"6 object levels", `{"a":{"b":{"c":{"d":{"e":{"f":[1]}}}}}}`, "filter.a.b.c.d.e is object level 6"},
		{"100 literals", `{"k":[` + literals(100) + `]}`, ""},
		{"101 literals", `{"k":[` + literals(101) + `]}`, "filter has more than 100 conditions"},
		{"100 across keys", `{"a":[` + literals(50) + `],"b":{"c":[` + literals(49) + `,{"exists":true}]}}`, ""},
		{"101 across keys", `{"a":[` + literals(50) + `],"b":{"c":[` + literals(50) + `,{"exists":true}]}}`, "filter has more than 100 conditions"},
		{"anything-but: 1 + 99 values", `{"k":[{"anything-but":[` + literals(99) + `]}]}`, ""},
		{"anything-but: 1 + 100 values", `{"k":[{"anything-but":[` + literals(100) + `]}]}`, "filter has more than 100 conditions"},
		{"anything-but beside literals", `{"k":[1,{"anything-but":[` + literals(97) + `]},2]}`, ""},
		{"anything-but beside literals, one more", `{"k":[1,{"anything-but":[` + literals(98) + `]},2]}`, "filter has more than 100 conditions"},
		{"a numeric counts once", `{"k":[{"numeric":[">",0,"<",1]},` + literals(99) + `]}`, ""},
	}
	for _, tt := range tests {
		f, err := ParseFilter(json.RawMessage(tt.filter))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err != "" && err == nil:
			t.Errorf("%s: accepted (%d canonical bytes)", tt.name, len(f.String()))
		case tt.err != "" && (!HasCode(err, CodeValidation) || !strings.HasPrefix(err.(*Error).Message, tt.err)):
			t.Errorf("%s:\n got %v\nwant validation_failed: %s…", tt.name, err, tt.err)
		}
	}
	if f := mustFilter(t, sized(2048)); len(f.String()) != 2048 {
		t.Errorf("sized(2048) is %d canonical bytes", len(f.String()))
	}
}

func TestFilterCanonicalForm(t *testing.T) {
	a := mustFilter(t, `{ "priority": [ {"numeric": [">=", 3.0]} ], "projectId": ["p-1", "p-2"], "labels": [{"prefix": "bug"}] }`)
	b := mustFilter(t, `{"labels":[{"prefix":"\u0062ug"}],"projectId":["p-1","p-2"],"priority":[{"numeric":[">=",3]}]}`)
	want := `{"labels":[{"prefix":"bug"}],"priority":[{"numeric":[">=",3]}],"projectId":["p-1","p-2"]}`
	if a.String() != want || b.String() != want {
		t.Errorf("canonical forms:\n%s\n%s\nwant %s", a, b, want)
	}
	if c := mustFilter(t, `{"n":[1e2]}`); c.String() != `{"n":[100]}` {
		t.Errorf("1e2 canonicalizes to %s", c)
	}
	// The canonical form parses to itself: it is what a store keeps.
	if again := mustFilter(t, a.String()); again.String() != a.String() {
		t.Errorf("re-parsed: %s", again)
	}

	// In a struct: validated on the way in, canonical on the way out, null is none.
	var sub struct {
		EventType string  `json:"eventType"`
		Filter    *Filter `json:"filter,omitempty"`
	}
	if err := json.Unmarshal([]byte(`{"eventType":"task.created","filter":`+example+`}`), &sub); err != nil {
		t.Fatal(err)
	}
	if sub.Filter.String() != want {
		t.Errorf("decoded: %s", sub.Filter)
	}
	// encoding/json escapes < and > in what MarshalJSON returns, so the
	// bytes differ from the canonical form but the filter does not.
	out, _ := json.Marshal(sub)
	var back struct {
		Filter *Filter `json:"filter"`
	}
	if err := json.Unmarshal(out, &back); err != nil || back.Filter.String() != want {
		t.Errorf("marshalled %s, read back %s, %v", out, back.Filter, err)
	}
	sub.Filter = nil
	if err := json.Unmarshal([]byte(`{"filter":null}`), &sub); err != nil || sub.Filter != nil {
		t.Errorf("null filter: %v %v", sub.Filter, err)
	}
	err := json.Unmarshal([]byte(`{"filter":{"a":[]}}`), &sub)
	if e, ok := AsError(err); !ok || e.Code != CodeValidation || !strings.HasPrefix(e.Message, "filter.a is an empty array") {
		t.Errorf("an invalid filter in a struct: %v", err)
	}
}

func TestFilterComparisonBound(t *testing.T) {
	// One lookup of "a", then one element visit and one equality per
	// element: 4,999 elements cost 9,999 comparisons, 5,000 cost 10,001.
	zeros := func(n int, last string) string {
		return `{"a":[` + strings.Repeat("0,", n-1) + last + `]}`
	}
	f := mustFilter(t, `{"a":[1]}`)
	for _, tt := range []struct {
		payload string
		want    bool
	}{
		{zeros(4999, "1"), true},
		{zeros(5000, "1"), false},
		{zeros(1_000_000, "1"), false},
	} {
		p, _ := DecodePayload(json.RawMessage(tt.payload))
		if got := f.Matches(p); got != tt.want {
			t.Errorf("%d bytes of payload: %v, want %v", len(tt.payload), got, tt.want)
		}
		if !tt.want {
			ok, why := f.Match(p)
			if ok || !strings.Contains(why, "more than 10000 comparisons") {
				t.Errorf("Match: %v %q", ok, why)
			}
			var st evaluation
			f.root.match(p, &st)
			if st.spent != MaxFilterComparisons || !st.exhausted {
				t.Errorf("spent %d", st.spent)
			}
		}
	}

	// Nothing is free: empty arrays, objects, keys that are absent.
	huge := func(elem string) any {
		p, _ := DecodePayload(json.RawMessage(`{"a":[` + strings.Repeat(elem+",", 200_000) + elem + `]}`))
		return p
	}
	for _, tt := range []struct{ filter, elem string }{
		{`{"a":[1]}`, `[]`},
		{`{"a":[1]}`, `[[[]]]`},
		{`{"a":{"b":[1]}}`, `{"b":0}`},
		{`{"a":{"b":[{"exists":false}],"c":[1]}}`, `{}`},
		{`{"a":[{"anything-but":["x"]}]}`, `"x"`},
	} {
		var st evaluation
		if mustFilter(t, tt.filter).root.match(huge(tt.elem), &st) || !st.exhausted || st.spent != MaxFilterComparisons {
			t.Errorf("%s against 200,001 × %s: spent %d, exhausted %v", tt.filter, tt.elem, st.spent, st.exhausted)
		}
	}
	// A cheap decision is not held back by a large payload.
	if !mustFilter(t, `{"a":[{"exists":true}]}`).Matches(huge("0")) {
		t.Error("exists on a large array")
	}
}

func TestFilterMatchesAllocatesNothing(t *testing.T) {
	f := mustFilter(t, `{"a":{"b":["x",{"prefix":"y"},{"anything-but":["z",3]}],"n":[{"numeric":[">",0]}]},"c":[null,{"exists":false}]}`)
	for _, s := range []string{`{"a":{"b":"yy","n":1}}`, `{"a":[{"b":["q",1]},{"b":"x","n":2}],"c":null}`, `{"a":{"b":"z"}}`, `[]`} {
		p, _ := DecodePayload(json.RawMessage(s))
		if n := testing.AllocsPerRun(100, func() { f.Matches(p) }); n != 0 {
			t.Errorf("Matches(%s) allocates %v times", s, n)
		}
	}
}

func decodeFilter(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// refMatch is PROTOCOL.md §8 read literally, slow and without the compiled
// form, for the differential checks: a filter object against a value; a
// condition against a value, arrays searched element by element.
func refMatch(filter map[string]any, v any) bool {
	if len(filter) == 0 {
		return true
	}
	if a, ok := v.([]any); ok && len(a) > 0 {
		for _, e := range a {
			if refMatch(filter, e) {
				return true
			}
		}
		return false
	}
	m, _ := v.(map[string]any) // nil for anything but an object: every key is missing
	for k, sub := range filter {
		val, present := m[k]
		if !refKey(sub, val, present) {
			return false
		}
	}
	return true
}

func refKey(sub, val any, present bool) bool {
	if obj, ok := sub.(map[string]any); ok {
		if !present {
			return refMatch(obj, nil)
		}
		return refMatch(obj, val)
	}
	for _, c := range sub.([]any) {
		if refCondition(c, val, present) {
			return true
		}
	}
	return false
}

func refCondition(c, val any, present bool) bool {
	cond, isOp := c.(map[string]any)
	if !present {
		return isOp && cond["exists"] == false
	}
	if isOp && cond["exists"] != nil {
		return cond["exists"] == true
	}
	if a, ok := val.([]any); ok {
		for _, e := range a {
			if refCondition(c, e, true) {
				return true
			}
		}
		return false
	}
	if _, ok := val.(map[string]any); ok {
		return false
	}
	if !isOp {
		return refEqual(c, val)
	}
	s, isString := val.(string)
	switch {
	case cond["prefix"] != nil:
		return isString && strings.HasPrefix(s, cond["prefix"].(string))
	case cond["suffix"] != nil:
		return isString && strings.HasSuffix(s, cond["suffix"].(string))
	case cond["anything-but"] != nil:
		if val == nil {
			return false
		}
		for _, no := range cond["anything-but"].([]any) {
			if refEqual(no, val) {
				return false
			}
		}
		return true
	case cond["numeric"] != nil:
		n, ok := refNumber(val)
		if !ok {
			return false
		}
		args := cond["numeric"].([]any)
		for i := 0; i < len(args); i += 2 {
			bound, _ := refNumber(args[i+1])
			holds := map[string]bool{"<": n < bound, "<=": n <= bound, "=": n == bound, ">=": n >= bound, ">": n > bound}[args[i].(string)]
			if !holds {
				return false
			}
		}
		return true
	}
	panic(fmt.Sprintf("reference: unknown condition %v", c))
}

func refEqual(a, b any) bool {
	if x, ok := refNumber(a); ok {
		y, ok := refNumber(b)
		return ok && x == y
	}
	return a == b
}

func refNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}

func BenchmarkFilterMatch(b *testing.B) {
	f := mustFilter(b, example)
	payload := func(s string) any {
		p, err := DecodePayload(json.RawMessage(s))
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	// A typical task event: a dozen keys, a few nested, labels an array.
	const typical = `{"taskId":"t-8c1f","projectId":"%s","title":"Crash on save","status":"open","priority":4,` +
		`"labels":["ui","bug-17"],"assignee":{"id":"u-1","name":"Ada"},"createdAt":"2026-11-27T12:00:00Z",` +
		`"estimate":3.5,"watchers":["u-2","u-3","u-4"],"archived":false}`
	// Keys are tried in canonical order (labels, priority, projectId), so a
	// wrong projectId is the costliest miss: every other key is evaluated first.
	miss, hit := payload(fmt.Sprintf(typical, "p-9")), payload(fmt.Sprintf(typical, "p-1"))
	lowPriority := payload(strings.Replace(fmt.Sprintf(typical, "p-1"), `"priority":4`, `"priority":2`, 1))
	for _, bb := range []struct {
		name string
		p    any
	}{{"nomatch-projectId", miss}, {"nomatch-priority", lowPriority}, {"match", hit}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.Matches(bb.p)
			}
		})
	}
	b.Run("explain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f.Match(miss)
		}
	})
	// For scale: the payload is decoded once per event, however many filters.
	b.Run("decode-payload", func(b *testing.B) {
		b.ReportAllocs()
		raw := []byte(fmt.Sprintf(typical, "p-9"))
		for b.Loop() {
			if _, err := DecodePayload(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzFilter: any filter bytes and payload bytes. Parsing never panics and
// fails only with validation_failed; a parsed filter is within its bounds,
// its canonical form parses to itself, and matching never panics, never
// exceeds the comparison bound, and agrees with the reference evaluator.
func FuzzFilter(f *testing.F) {
	for _, tt := range matchCases {
		f.Add([]byte(tt.filter), []byte(tt.payload))
	}
	f.Fuzz(func(t *testing.T, filter, payload []byte) {
		flt, err := ParseFilter(filter)
		if err != nil {
			if !HasCode(err, CodeValidation) {
				t.Fatalf("ParseFilter(%q): %v is not validation_failed", filter, err)
			}
			return
		}
		if CheckNumbers(filter) != nil {
			t.Fatalf("ParseFilter(%q) accepted a number I-JSON refuses", filter)
		}
		if flt == nil {
			return
		}
		canon := flt.String()
		if len(canon) > MaxFilterBytes {
			t.Fatalf("accepted %d canonical bytes", len(canon))
		}
		again, err := ParseFilter(json.RawMessage(canon))
		if err != nil || again.String() != canon {
			t.Fatalf("canonical form %s re-parses to %v, %v", canon, again, err)
		}
		p, err := DecodePayload(payload)
		if err != nil {
			return
		}
		var st evaluation
		got := flt.root.match(p, &st)
		if st.spent > MaxFilterComparisons {
			t.Fatalf("spent %d comparisons", st.spent)
		}
		if ok, why := flt.Match(p); ok != (got && !st.exhausted) || ok != flt.Matches(p) || why == "" {
			t.Fatalf("Match %v (%s), Matches %v, walk %v", ok, why, flt.Matches(p), got)
		}
		if st.exhausted {
			return
		}
		dec := json.NewDecoder(strings.NewReader(canon))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if ref := refMatch(m, p); ref != got {
			t.Fatalf("filter %s, payload %s: %v, the reference says %v", canon, payload, got, ref)
		}
	})
}
