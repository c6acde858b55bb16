// Package events makes application events for tests and benchmarks: JSON
// objects of about 1 KiB built from a fixed vocabulary by a seeded
// generator, so that they compress as real events do (field names repeat
// in every record, values come from small sets, ids and amounts vary)
// and every run with the same seed writes the same bytes.
package events

import (
	"math/rand/v2"
	"strconv"
)

var (
	kinds     = []string{"order.placed", "order.paid", "order.shipped", "cart.updated", "page.viewed", "payment.refused", "user.signed_in", "search.performed"}
	countries = []string{"US", "DE", "FR", "GB", "IN", "BR", "JP", "CA", "AU", "NL", "ES", "IT"}
	plans     = []string{"free", "plus", "pro", "enterprise"}
	agents    = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"okhttp/4.12.0", "python-requests/2.32.3",
	}
	products = []string{"espresso-machine", "grinder-pro", "milk-frother", "travel-mug", "filter-papers", "descaler", "tamper", "knock-box", "kettle-gooseneck", "scale-digital", "beans-ethiopia", "beans-colombia", "beans-house-blend", "cleaning-tablets", "water-filter", "cup-set"}
	words    = []string{"gift", "express", "subscription", "returning", "mobile", "promo", "bundle", "priority", "eco", "wholesale"}
	pages    = []string{"/", "/shop", "/shop/coffee", "/shop/machines", "/cart", "/checkout", "/account", "/help/shipping", "/help/returns", "/blog/brewing-guide"}
)

// Generator writes events from one seed.
type Generator struct {
	r   *rand.Rand
	buf []byte
}

// New returns a generator whose events depend on seed only.
func New(seed uint64) *Generator {
	return &Generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (g *Generator) pick(s []string) string { return s[g.r.IntN(len(s))] }

// Next returns event seq. The slice is fresh for each call.
func (g *Generator) Next(seq int) []byte {
	b := g.buf[:0]
	b = append(b, `{"event_id":"evt-`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `","type":"`...)
	b = append(b, g.pick(kinds)...)
	b = append(b, `","occurred_at":"2026-12-07T`...)
	b = appendClock(b, seq)
	b = append(b, `Z","schema_version":3,"source":"checkout-service","user":{"id":"usr-`...)
	b = strconv.AppendInt(b, int64(g.r.IntN(50_000)), 10)
	b = append(b, `","country":"`...)
	b = append(b, g.pick(countries)...)
	b = append(b, `","plan":"`...)
	b = append(b, g.pick(plans)...)
	b = append(b, `","marketing_opt_in":`...)
	b = strconv.AppendBool(b, g.r.IntN(2) == 0)
	b = append(b, `},"session":{"id":"ses-`...)
	b = strconv.AppendInt(b, int64(g.r.IntN(1_000_000)), 16)
	b = append(b, `","user_agent":"`...)
	b = append(b, g.pick(agents)...)
	b = append(b, `","page":"`...)
	b = append(b, g.pick(pages)...)
	b = append(b, `","referrer":"`...)
	b = append(b, g.pick(pages)...)
	b = append(b, `"},"items":[`...)
	n := 2 + g.r.IntN(3)
	total := 0
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		price := 199 + g.r.IntN(40_000)
		qty := 1 + g.r.IntN(3)
		total += price * qty
		b = append(b, `{"sku":"`...)
		b = append(b, g.pick(products)...)
		b = append(b, `","quantity":`...)
		b = strconv.AppendInt(b, int64(qty), 10)
		b = append(b, `,"unit_price":{"amount":`...)
		b = strconv.AppendInt(b, int64(price), 10)
		b = append(b, `,"currency":"USD","decimals":2},"tags":["`...)
		b = append(b, g.pick(words)...)
		b = append(b, `","`...)
		b = append(b, g.pick(words)...)
		b = append(b, `"]}`...)
	}
	b = append(b, `],"total":{"amount":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"currency":"USD","decimals":2},"shipping":{"method":"`...)
	b = append(b, g.pick([]string{"standard", "express", "pickup"})...)
	b = append(b, `","country":"`...)
	b = append(b, g.pick(countries)...)
	b = append(b, `","postal_code":"`...)
	b = strconv.AppendInt(b, int64(10_000+g.r.IntN(89_999)), 10)
	b = append(b, `"},"trace":{"trace_id":"`...)
	b = appendHex(b, g.r.Uint64())
	b = appendHex(b, g.r.Uint64())
	b = append(b, `","span_id":"`...)
	b = appendHex(b, g.r.Uint64())
	b = append(b, `","sampled":false},"request":{"id":"`...)
	b = appendHex(b, g.r.Uint64())
	b = appendHex(b, g.r.Uint64())
	b = append(b, `","client_ip":"`...)
	for i := range 4 {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendInt(b, int64(g.r.IntN(256)), 10)
	}
	b = append(b, `","latency_ms":`...)
	b = strconv.AppendInt(b, int64(g.r.IntN(2000)), 10)
	b = append(b, `}}`...)
	g.buf = b
	return append([]byte(nil), b...)
}

func appendClock(b []byte, seq int) []byte {
	s := seq % 86_400
	for i, v := range []int{s / 3600, s / 60 % 60, s % 60} {
		if i > 0 {
			b = append(b, ':')
		}
		if v < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return append(b, ".000"...)
}

func appendHex(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, digits[v>>uint(i)&0xf])
	}
	return b
}
