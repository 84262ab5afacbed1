package envdoc

import (
	"encoding/json"
	"fmt"
	"reflect"
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
	n.Secrets["C"] = d.Secrets["C"]
	if c := Diff(d, n).String(); c != "+D ~B -A" {
		t.Fatalf("diff = %q", c)
	}
}

func TestRejects(t *testing.T) {
	d := New()
	if err := d.Set("1A", "x", false); err == nil || !strings.Contains(err.Error(), `"1A"`) {
		t.Fatalf("invalid name: %v", err)
	}
	if err := d.Set("A", "nul\x00byte", false); err == nil {
		t.Fatal("NUL accepted")
	}
	for _, in := range []string{`{"v":2,"secrets":{}}`, `{"v":1,"secrets":{"bad-name":{"value":"x"}}}`, `{"v":1,"secrets":`, `not json`} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%s) accepted", in)
		}
	}
}

// parseStd is the reference: what encoding/json makes of b.
func parseStd(b []byte) (*Doc, error) {
	var d Doc
	err := json.Unmarshal(b, &d)
	if d.Secrets == nil {
		d.Secrets = map[string]Secret{}
	}
	return &d, err
}

// FuzzFastParse checks that whenever the fast parser accepts a document,
// encoding/json accepts it too and decodes the same thing.
func FuzzFastParse(f *testing.F) {
	f.Add([]byte(`{"v":1,"secrets":{"A":{"value":"x"},"B":{"value":"y\n\u00e9\ud83c\udf0d","not_secret":true}}}`))
	f.Add([]byte(` { "secrets" : { } , "v" : 1 } `))
	f.Add([]byte(`{"v":1,"secrets":{"A":{"not_secret":false,"value":"\"\\\/\b\f\r\t"}}}`))
	f.Add([]byte(`{"v":01,"secrets":{}}`))
	f.Add([]byte(`{"v":1,"secrets":{"A":{"value":"\ud800"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := parseFast(b)
		if !ok {
			return
		}
		std, err := parseStd(b)
		if err != nil {
			t.Fatalf("fast parser accepted what encoding/json rejects (%v): %q", err, b)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("fast %+v != std %+v for %q", fast, std, b)
		}
	})
}

func TestFastParseCoversMarshal(t *testing.T) {
	d := New()
	for i := 0; i < 50; i++ {
		d.Set(fmt.Sprintf("K%d", i), strings.Repeat(string(rune(0x1F30D-i)), i)+"\x01\t<>&\u2028", i%2 == 0)
	}
	if _, ok := parseFast(d.Marshal()); !ok {
		t.Fatal("fast parser rejects Marshal's own output")
	}
}

func benchDoc(n int) []byte {
	d := New()
	for i := 0; i < n; i++ {
		d.Set(fmt.Sprintf("SECRET_%04d", i), fmt.Sprintf("value-%04d-%s", i, strings.Repeat("x", 40)), false)
	}
	return d.Marshal()
}

func BenchmarkParse1000(b *testing.B) {
	doc := benchDoc(1000)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEncodingJSON1000(b *testing.B) {
	doc := benchDoc(1000)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := parseStd(doc); err != nil {
			b.Fatal(err)
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
