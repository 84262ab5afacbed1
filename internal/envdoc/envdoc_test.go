package envdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestRoundTripAndDiff(t *testing.T) {
	d := New()
	for name, v := range map[string]string{"A": "1", "B": "two\nlines", "C": `q"uote\ <&> é 🌍`} {
		if err := d.Set(name, v, name == "A"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Parse(d.Marshal())
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	n := New()
	n.Set("B", "changed", false)
	n.Set("D", "new", false)
	c, _ := d.Lookup("C")
	n.Set("C", c.Value, c.NotSecret)
	if c := Diff(d, n).String(); c != "+D ~B -A" {
		t.Fatalf("diff = %q", c)
	}
	if c := Diff(nil, n); !slices.Equal(c.Added, []string{"B", "C", "D"}) || c.Changed != nil || c.Removed != nil {
		t.Fatalf("diff from nothing = %+v", c)
	}
	if c := Diff(n, New()); !slices.Equal(c.Removed, []string{"B", "C", "D"}) || c.Added != nil {
		t.Fatalf("diff to nothing = %+v", c)
	}
	if c := Diff(n, n).String(); c != "(no changes)" {
		t.Fatalf("diff with itself = %q", c)
	}
}

func TestSetLookupDelete(t *testing.T) {
	d := New()
	for _, n := range []string{"M", "B", "Z", "A", "M"} {
		if err := d.Set(n, "v"+n, n == "Z"); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(d.Names(), []string{"A", "B", "M", "Z"}) || d.Len() != 4 {
		t.Fatalf("names after Set = %q", d.Names())
	}
	if s, ok := d.Lookup("Z"); !ok || s != (Secret{Name: "Z", Value: "vZ", NotSecret: true}) {
		t.Fatalf("Lookup(Z) = %+v, %v", s, ok)
	}
	if _, ok := d.Lookup("Q"); ok {
		t.Fatal("Lookup of a missing name found it")
	}
	if !d.Delete("B") || d.Delete("B") {
		t.Fatal("Delete of B: want true once, then false")
	}
	if !slices.Equal(d.Names(), []string{"A", "M", "Z"}) {
		t.Fatalf("names after Delete = %q", d.Names())
	}
	other := New()
	other.Replace(d)
	other.Set("A", "changed", false)
	if s, _ := d.Lookup("A"); s.Value != "vA" {
		t.Fatal("Replace shares the secrets instead of copying them")
	}
	if got := other.Values(); !reflect.DeepEqual(got, map[string]string{"A": "changed", "M": "vM", "Z": "vZ"}) {
		t.Fatalf("Values = %v", got)
	}
}

// legacyMarshal is how Marshal encoded a document when it was a map:
// encoding/json of the map, keys sorted.
func legacyMarshal(d *Doc) []byte {
	j := jsonDoc{Version: d.Version, Secrets: map[string]jsonSecret{}}
	for _, s := range d.Secrets() {
		j.Secrets[s.Name] = jsonSecret{Value: s.Value, NotSecret: s.NotSecret}
	}
	b, err := json.Marshal(j)
	if err != nil {
		panic(err)
	}
	return b
}

func TestMarshalAsEncodingJSON(t *testing.T) {
	d := New()
	for i, v := range []string{"", "plain", `q"uote\`, "<&>", "é 🌍", "\x00\x01\x1f\x7f", "\u2028\u2029", "\xff invalid", "tab\tnl\n"} {
		// Set refuses NUL; the encoding must still match for any string.
		d.secrets = append(d.secrets, Secret{Name: fmt.Sprintf("K%d", i), Value: v, NotSecret: i%2 == 0})
	}
	if got, want := d.Marshal(), legacyMarshal(d); string(got) != string(want) {
		t.Fatalf("Marshal = %s\nencoding/json = %s", got, want)
	}
	if got := string(New().Marshal()); got != `{"v":1,"secrets":{}}` {
		t.Fatalf("empty document = %s", got)
	}
}

func FuzzMarshal(f *testing.F) {
	f.Add("A", "x", false, "B_2", "é<>\u2028", true)
	f.Fuzz(func(t *testing.T, n1, v1 string, ns1 bool, n2, v2 string, ns2 bool) {
		d := New()
		if d.Set(n1, v1, ns1) != nil || d.Set(n2, v2, ns2) != nil {
			return
		}
		b := d.Marshal()
		if want := legacyMarshal(d); string(b) != string(want) {
			t.Fatalf("Marshal = %s, encoding/json = %s", b, want)
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		// encoding/json replaces invalid UTF-8: compare with what it decodes.
		std, _ := parseJSON(b)
		if !sameDoc(got, std) {
			t.Fatalf("Parse(Marshal) = %+v, want %+v", got, std)
		}
	})
}

func TestRejects(t *testing.T) {
	d := New()
	if err := d.Set("1A", "x", false); err == nil || !strings.Contains(err.Error(), `"1A"`) {
		t.Fatalf("invalid name: %v", err)
	}
	if err := d.Set("A", "nul\x00byte", false); err == nil {
		t.Fatal("NUL accepted")
	}
	for _, in := range []string{
		`{"v":2,"secrets":{}}`,
		`{"v":1,"secrets":{"bad-name":{"value":"x"}}}`,
		`{"v":1,"secrets":{"B":{"value":"x"},"bad-name":{"value":"x"}}}`, // unsorted, then invalid
		`{"v":1,"secrets":`,
		`{"v":1,"secrets":{"A":{"value":"x"}}`,
		`{"v":1,"secrets":{"A":{"value":"x"}}}}`,
		`not json`,
	} {
		if d, err := Parse([]byte(in)); err == nil || d != nil {
			t.Errorf("Parse(%s) = %+v, %v: want only an error", in, d, err)
		}
	}
}

func TestParseUnsortedDocument(t *testing.T) {
	// Marshal writes names sorted; any other order (another writer, an
	// older one) is still read, sorted, the last of a repeated name winning.
	in := []byte(`{"v":1,"secrets":{"C":{"value":"c"},"A":{"value":"first"},"B":{"value":"b","not_secret":true},"A":{"value":"last"}}}`)
	d, ok := parseFast(in)
	if !ok {
		t.Fatal("the fast parser declined an unsorted document")
	}
	want := []Secret{{Name: "A", Value: "last"}, {Name: "B", Value: "b", NotSecret: true}, {Name: "C", Value: "c"}}
	if !slices.Equal(d.Secrets(), want) {
		t.Fatalf("secrets = %+v, want %+v", d.Secrets(), want)
	}
	std, _ := parseJSON(in)
	if !sameDoc(d, std) {
		t.Fatalf("fast %+v != encoding/json %+v", d, std)
	}
}

// sameDoc reports whether a and b hold the same version and secrets (no
// secrets: nil or empty alike).
func sameDoc(a, b *Doc) bool {
	return a.Version == b.Version && slices.Equal(a.secrets, b.secrets)
}

// FuzzFastParse checks that whenever the fast parser accepts a document,
// encoding/json accepts it too and decodes the same thing, sorted by name.
func FuzzFastParse(f *testing.F) {
	f.Add([]byte(`{"v":1,"secrets":{"A":{"value":"x"},"B":{"value":"y\n\u00e9\ud83c\udf0d","not_secret":true}}}`))
	f.Add([]byte(` { "secrets" : { } , "v" : 1 } `))
	f.Add([]byte(`{"v":1,"secrets":{"A":{"not_secret":false,"value":"\"\\\/\b\f\r\t"}}}`))
	f.Add([]byte(`{"v":01,"secrets":{}}`))
	f.Add([]byte(`{"v":1,"secrets":{"A":{"value":"\ud800"}}}`))
	f.Add([]byte(`{"v":1,"secrets":{"B":{"value":"x"},"A":{"value":"y"},"B":{"not_secret":true}}}`))
	f.Add([]byte(`{"v":1,"secrets":{"A":{"value":"x"}},"secrets":{"B":{"value":"y"}}}`))
	f.Add([]byte(`{"v":1,"secrets":{"A":{"value":"é\xff"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := parseFast(b)
		if !ok {
			return
		}
		std, err := parseJSON(b)
		if err != nil {
			t.Fatalf("fast parser accepted what encoding/json rejects (%v): %q", err, b)
		}
		if !sameDoc(fast, std) {
			t.Fatalf("fast %+v != std %+v for %q", fast, std, b)
		}
		if !slices.IsSortedFunc(fast.secrets, func(a, b Secret) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatalf("fast parser's secrets are not sorted: %+v", fast.secrets)
		}
	})
}

func TestFastParseCoversMarshal(t *testing.T) {
	d := New()
	for i := 0; i < 50; i++ {
		d.Set(fmt.Sprintf("K%d", i), strings.Repeat(string(rune(0x1F30D-i)), i)+"\x01\t<>&\u2028", i%2 == 0)
	}
	got, ok := parseFast(d.Marshal())
	if !ok {
		t.Fatal("fast parser rejects Marshal's own output")
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatal("fast parser does not give back what Marshal wrote")
	}
}

func benchDoc(n int) []byte {
	d := New()
	for i := 0; i < n; i++ {
		d.Set(fmt.Sprintf("SECRET_%04d", i), fmt.Sprintf("value-%04d-%s", i, strings.Repeat("x", 40)), false)
	}
	return d.Marshal()
}

func benchParse(b *testing.B, n int) {
	doc := benchDoc(n)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse1000(b *testing.B)  { benchParse(b, 1000) }
func BenchmarkParse10000(b *testing.B) { benchParse(b, 10000) }

func BenchmarkParseEncodingJSON1000(b *testing.B) {
	doc := benchDoc(1000)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := parseJSON(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal10000(b *testing.B) {
	d, err := Parse(benchDoc(10000))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		d.Marshal()
	}
}

// BenchmarkSetShuffled10000 is the worst case for the sorted slice: an
// import of 10,000 names in random order, each inserted in the middle.
func BenchmarkSetShuffled10000(b *testing.B) {
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("SECRET_%04d", i)
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for b.Loop() {
		d := New()
		for _, n := range names {
			if err := d.Set(n, "value", false); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestSetRefusesValuesTooLargeForAnEnvironment(t *testing.T) {
	d := New()
	max := MaxVariableSize - len("BIG") - 2
	if err := d.Set("BIG", strings.Repeat("x", max), false); err != nil {
		t.Fatalf("value at the limit: %v", err)
	}
	err := d.Set("BIG", strings.Repeat("x", max+1), false)
	if err == nil || !strings.Contains(err.Error(), "at most 131067 bytes") || strings.Contains(err.Error(), "xxx") {
		t.Fatalf("value over the limit: %v", err)
	}
}

func TestPlainMatchesByteLoop(t *testing.T) {
	naive := func(b []byte) bool {
		for _, c := range b {
			if c < 0x20 || c == '\\' {
				return false
			}
		}
		return true
	}
	// Every byte value at every position of a 17-byte string (two words
	// and a tail), over backgrounds that make the word test borrow.
	for _, bg := range []byte{'a', 0x20, 0x21, 0x5d, 0x5b, 0x80, 0xff} {
		for pos := 0; pos < 17; pos++ {
			for c := 0; c < 256; c++ {
				b := bytes.Repeat([]byte{bg}, 17)
				b[pos] = byte(c)
				if got, want := plain(b), naive(b); got != want {
					t.Fatalf("plain(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}
