package snapshot

import (
	"context"
	"sync"
)

// Set holds a Cache per key: a document per check (badges), per address
// the page is reached at (feeds, v2). It keeps at most Max of them; a key
// beyond that has its document built for its request alone, so that made
// up keys cost a build each and take no room.
type Set[T any] struct {
	ctype string
	o     Options
	max   int
	build func(ctx context.Context, key string) (T, []byte, error)

	mu sync.Mutex
	m  map[string]*Cache[T]
}

// NewSet makes a set of at most max caches of documents of contentType
// that build renders for a key.
func NewSet[T any](contentType string, o Options, max int, build func(ctx context.Context, key string) (T, []byte, error)) *Set[T] {
	return &Set[T]{ctype: contentType, o: o, max: max, build: build, m: map[string]*Cache[T]{}}
}

// Get returns key's current document (Cache.Get).
func (s *Set[T]) Get(ctx context.Context, key string) (*Entry[T], error) {
	s.mu.Lock()
	c := s.m[key]
	if c == nil {
		c = New(s.ctype, s.o, func(ctx context.Context) (T, []byte, error) { return s.build(ctx, key) })
		if len(s.m) < s.max {
			s.m[key] = c
		}
	}
	s.mu.Unlock()
	return c.Get(ctx)
}

// Forget drops key's document (a key that names nothing).
func (s *Set[T]) Forget(key string) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// Len is the number of documents kept.
func (s *Set[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
