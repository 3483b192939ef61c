package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"strings"
)

// heavyItems is how many cards the heavy page builds in script, and
// heavyImages how many distinct images it loads.
const (
	heavyItems  = 2000
	heavyImages = 40
)

// heavyPage is a page of about the weight of a busy storefront: 40 images
// (about 3 MiB that do not compress, as photos do not), 2,000 cards built
// by script, a CPU-bound script task of about 50 ms, a web-font-free
// stylesheet with a grid, and a late banner that shifts the layout. It
// marks #catalogue data-ready when done.
func heavyPage() http.Handler {
	mux := http.NewServeMux()
	r := rand.New(rand.NewPCG(1, 2))
	imgs := make([][]byte, heavyImages)
	for i := range imgs {
		m := image.NewRGBA(image.Rect(0, 0, 160, 160))
		for p := 0; p < len(m.Pix); p += 4 {
			m.Pix[p], m.Pix[p+1], m.Pix[p+2], m.Pix[p+3] = uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255
		}
		m.Set(0, 0, color.RGBA{uint8(i), 0, 0, 255})
		var b bytes.Buffer
		if err := png.Encode(&b, m); err != nil {
			panic(err)
		}
		imgs[i] = b.Bytes()
	}
	for i, b := range imgs {
		mux.HandleFunc(fmt.Sprintf("GET /img/%d.png", i), func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(b)
		})
	}
	var h strings.Builder
	h.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>Catalogue</title>
<style>body{font-family:sans-serif;margin:0}header{padding:1em;background:#234;color:#fff}
#hero{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:8px;padding:8px}
#catalogue{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:4px;padding:8px}
.card{border:1px solid #ccc;border-radius:4px;padding:6px;box-shadow:0 1px 2px #0002}.card b{display:block}
#banner{padding:2em;background:#fd0}</style></head><body>
<header><h1>Catalogue</h1><nav><a href="#">Home</a> <a href="#">Deals</a> <a href="#">Account</a></nav></header>
<div id="hero">`)
	for i := range heavyImages {
		fmt.Fprintf(&h, `<img src="/img/%d.png" width="160" height="160" alt="product %d">`, i, i)
	}
	fmt.Fprintf(&h, `</div><main id="catalogue"></main>
<script>
(() => {
  const c = document.getElementById("catalogue"), f = document.createDocumentFragment();
  for (let i = 0; i < %d; i++) {
    const d = document.createElement("div"); d.className = "card";
    d.innerHTML = "<b>Item " + i + "</b><span>" + (i * 7919 %% 1000) / 10 + " EUR</span><button>Add</button>";
    f.appendChild(d);
  }
  c.appendChild(f);
  let x = 0; const until = performance.now() + 50; while (performance.now() < until) { x = (x * 31 + 7) %% 1000003; }
  setTimeout(() => {
    const b = document.createElement("div"); b.id = "banner"; b.textContent = "Free shipping today " + x %% 10;
    document.body.insertBefore(b, document.getElementById("hero"));
    c.dataset.items = String(c.children.length); c.dataset.ready = "1";
  }, 300);
})();
</script></body></html>`, heavyItems)
	page := h.String()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})
	return mux
}
