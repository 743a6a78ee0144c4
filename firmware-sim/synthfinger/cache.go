package synthfinger

import (
	"container/list"
	"sync"
)

// masterCacheSize bounds memory: a master is about 4 MB (three 512x672 float32 maps).
const masterCacheSize = 16

type masterKey struct {
	identity uint64
	finger   int
}

type masterCache struct {
	capacity int
	build    func(identity uint64, finger int) *master
	mu       sync.Mutex
	order    *list.List // front = most recently used; values are *cacheEntry
	byKey    map[masterKey]*list.Element
}

type cacheEntry struct {
	key masterKey
	m   *master
}

var masters = newMasterCache(masterCacheSize, newMaster)

func newMasterCache(capacity int, build func(uint64, int) *master) *masterCache {
	return &masterCache{capacity: capacity, build: build, order: list.New(), byKey: map[masterKey]*list.Element{}}
}

// get returns the cached master or builds it. Building happens outside the
// lock; two goroutines asking for the same new finger may both build it,
// which is harmless because generation is deterministic.
func (c *masterCache) get(identity uint64, finger int) *master {
	k := masterKey{identity, finger}
	c.mu.Lock()
	if e, ok := c.byKey[k]; ok {
		c.order.MoveToFront(e)
		m := e.Value.(*cacheEntry).m
		c.mu.Unlock()
		return m
	}
	c.mu.Unlock()
	m := c.build(identity, finger)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cacheEntry).m
	}
	c.byKey[k] = c.order.PushFront(&cacheEntry{k, m})
	for c.order.Len() > c.capacity {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).key)
	}
	return m
}

// purge empties the cache (benchmarks of cold generation use it).
func (c *masterCache) purge() {
	c.mu.Lock()
	c.order.Init()
	clear(c.byKey)
	c.mu.Unlock()
}
