package endpoints

import (
	"errors"
	"testing"

	"github.com/postern/postern/internal/server/eice"
	"github.com/postern/postern/internal/store"
)

func TestTunnelRefusal(t *testing.T) {
	for _, tc := range []struct {
		state string
		want  error
	}{
		{eice.CreateInProgress, ErrEndpointNotUsable},
		{eice.CreateComplete, nil},
		{eice.CreateFailed, ErrEndpointNotUsable},
		{eice.UpdateInProgress, nil},
		{eice.UpdateComplete, nil},
		{eice.UpdateFailed, nil},
		{eice.DeleteInProgress, ErrEndpointNotUsable},
		{eice.DeleteFailed, ErrEndpointNotUsable},
		{eice.DeleteComplete, ErrEndpointGone},
		{"bogus", ErrEndpointNotUsable},
	} {
		err := TunnelRefusal(store.Endpoint{EndpointID: "eice-1", State: tc.state})
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("TunnelRefusal(%s) = %v, want %v", tc.state, err, tc.want)
		}
	}
}

func TestModify(t *testing.T) {
	for _, from := range eice.States {
		e := store.Endpoint{EndpointID: "eice-1", State: from, StateMessage: "m", IPAddressType: "ipv4"}
		err := Modify(&e, func(e *store.Endpoint) { e.IPAddressType = "dualstack" })
		if eice.Modifiable(from) {
			if err != nil || e.State != eice.UpdateComplete || e.StateMessage != "" || e.IPAddressType != "dualstack" {
				t.Errorf("Modify from %s = %v, %+v; want update-complete with the change", from, err, e)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidTransition) || e.State != from || e.IPAddressType != "ipv4" {
			t.Errorf("Modify from %s = %v, %+v; want ErrInvalidTransition and no change", from, err, e)
		}
	}
}

func TestInitialState(t *testing.T) {
	if s := InitialState(); s != eice.CreateInProgress || !Joinable(s) || TunnelRefusal(store.Endpoint{State: s}) == nil {
		t.Errorf("InitialState() = %s, want create-in-progress: joinable, carrying no tunnel", s)
	}
}
