package api

import "testing"

func TestValidSlug(t *testing.T) {
	for s, want := range map[string]bool{
		"acme": true, "web-2": true, "a.b_c": true, "0day": true, "x": true,
		"": false, "-lead": false, "_lead": false, "Upper": false, "sp ace": false, "a/b": false, "ünï": false,
		"a23456789012345678901234567890123456789012345678901234567890123":  true,
		"a234567890123456789012345678901234567890123456789012345678901234": false,
	} {
		if got := ValidSlug(s); got != want {
			t.Errorf("ValidSlug(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidID(t *testing.T) {
	for _, tt := range []struct {
		prefix, id string
		want       bool
	}{
		{"env", "env_abcdefghijklmnopqrstuvwxyz", true},
		{"env", "env_abcdefghijklmnopqrstuvwxy2", true},
		{"env", "env_abcdefghijklmnopqrstuvwxy1", false}, // 1 is not base32
		{"env", "env_abcdefghijklmnopqrstuvwxy", false},  // too short
		{"env", "usr_abcdefghijklmnopqrstuvwxyz", false}, // wrong prefix
		{"usr", "usr_ABCDEFGHIJKLMNOPQRSTUVWXYZ", false}, // upper case
		{"st", "st_0123456789abcdef0123456789abcdef", true},
		{"st", "st_0123456789abcdef0123456789abcdeg", false},
		{"st", "st_0123456789abcdef", false},
	} {
		if got := ValidID(tt.prefix, tt.id); got != tt.want {
			t.Errorf("ValidID(%q, %q) = %v, want %v", tt.prefix, tt.id, got, tt.want)
		}
	}
}

func TestPath(t *testing.T) {
	for _, tc := range []struct {
		route string
		args  []string
		want  string
	}{
		{OrgsRoute, nil, "/v1/orgs"},
		{SnapshotRoute, []string{"acme", "web", "production"}, "/v1/orgs/acme/projects/web/envs/production/snapshot"},
		{TokenRoute, []string{"a b", "w/x", "st_1"}, "/v1/orgs/a%20b/projects/w%2Fx/tokens/st_1"},
	} {
		if got := Path(tc.route, tc.args...); got != tc.want {
			t.Errorf("Path(%q, %q) = %q, want %q", tc.route, tc.args, got, tc.want)
		}
	}
	for _, args := range [][]string{{"acme"}, {"acme", "web", "dev", "extra"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Path(EnvRoute, %q) did not panic", args)
				}
			}()
			Path(EnvRoute, args...)
		}()
	}
}

func TestNewID(t *testing.T) {
	a, b := NewID("env"), NewID("env")
	if a == b || !ValidID("env", a) || ValidID("usr", a) {
		t.Fatalf("NewID: %q %q", a, b)
	}
}
