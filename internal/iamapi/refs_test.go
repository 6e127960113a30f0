package iamapi

import "github.com/postern/postern/internal/store"

func refUser(name string) store.PrincipalRef {
	return store.PrincipalRef{Kind: store.KindUser, Name: name}
}
