package eice

import "testing"

func TestStatesAreValid(t *testing.T) {
	if len(States) != 9 {
		t.Fatalf("len(States) = %d, want 9", len(States))
	}
	seen := map[string]bool{}
	for _, s := range States {
		if !Valid(s) {
			t.Errorf("Valid(%q) = false", s)
		}
		if seen[s] {
			t.Errorf("duplicate state %q", s)
		}
		seen[s] = true
	}
	for _, s := range []string{"", "available", "Create-Complete", "pending"} {
		if Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
}

func TestCanTransition(t *testing.T) {
	allowed := map[[2]string]bool{
		{CreateInProgress, CreateComplete}:   true,
		{CreateInProgress, CreateFailed}:     true,
		{CreateInProgress, DeleteInProgress}: true,
		{CreateComplete, UpdateInProgress}:   true,
		{CreateComplete, DeleteInProgress}:   true,
		{UpdateInProgress, UpdateComplete}:   true,
		{UpdateInProgress, UpdateFailed}:     true,
		{UpdateComplete, UpdateInProgress}:   true,
		{UpdateComplete, DeleteInProgress}:   true,
		{UpdateFailed, UpdateInProgress}:     true,
		{UpdateFailed, DeleteInProgress}:     true,
		{CreateFailed, DeleteInProgress}:     true,
		{DeleteInProgress, DeleteComplete}:   true,
		{DeleteInProgress, DeleteFailed}:     true,
		{DeleteFailed, DeleteInProgress}:     true,
	}
	// Every pair of states, including self-transitions and unknown ones.
	all := append(append([]string{}, States...), "", "bogus")
	for _, from := range all {
		for _, to := range all {
			want := allowed[[2]string{from, to}]
			if got := CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%q, %q) = %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestUsable(t *testing.T) {
	tests := map[string]bool{
		CreateInProgress: false,
		CreateComplete:   true,
		CreateFailed:     false,
		DeleteInProgress: false,
		DeleteComplete:   false,
		DeleteFailed:     false,
		UpdateInProgress: true,
		UpdateComplete:   true,
		UpdateFailed:     true,
		"":               false,
		"bogus":          false,
	}
	for s, want := range tests {
		if got := Usable(s); got != want {
			t.Errorf("Usable(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestDeletableModifiable(t *testing.T) {
	tests := []struct {
		state              string
		deletable, modable bool
	}{
		{CreateInProgress, true, false},
		{CreateComplete, true, true},
		{CreateFailed, true, false},
		{DeleteInProgress, false, false},
		{DeleteComplete, false, false},
		{DeleteFailed, true, false},
		{UpdateInProgress, false, false},
		{UpdateComplete, true, true},
		{UpdateFailed, true, true},
	}
	for _, tc := range tests {
		if got := Deletable(tc.state); got != tc.deletable {
			t.Errorf("Deletable(%q) = %v, want %v", tc.state, got, tc.deletable)
		}
		if got := Modifiable(tc.state); got != tc.modable {
			t.Errorf("Modifiable(%q) = %v, want %v", tc.state, got, tc.modable)
		}
	}
}
