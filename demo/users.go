package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nines-sre/nines/contentsvc"
	"github.com/nines-sre/nines/contentsvc/sdk"
	"github.com/nines-sre/nines/model"
)

// A country of the simulated users, and the region whose faults reach
// them (contentsvc's faults follow the region header).
type country struct{ code, region string }

var (
	us, mx, ca = country{"US", "us-ohio"}, country{"MX", "us-oregon"}, country{"CA", "ca-central"}
	au, jp     = country{"AU", "ap-sydney"}, country{"JP", "ap-tokyo"}
	de, gb     = country{"DE", "eu-frankfurt"}, country{"GB", "eu-london"}
	// countries are where the users are, in proportion: a user (and a
	// first visit) takes the next one in turn.
	countries = []country{us, de, gb, us, ca, de, gb, jp, us, au, de, gb, mx, us, ca, de, gb, jp, us, au}
)

// newVisitorEvery: one render in five is a new visitor's.
const newVisitorEvery = 5

// Users is the demo's population of real users: Users of them render the
// in-app content through the Go SDK in turn, and every newVisitorEvery-th
// render is a first visit (an SDK with nothing cached), RendersPerSecond
// renders a second in all; each render is reported to contentsvc's
// intake as the SDKs do (batched, sent again until taken).
type Users struct {
	Users            int
	RendersPerSecond float64
	Log              *slog.Logger
}

// Run simulates the users against contentsvc at base until ctx is done.
func (u Users) Run(ctx context.Context, base string) {
	if u.Users <= 0 || u.RendersPerSecond <= 0 {
		return
	}
	rep := sdk.NewReporter(sdk.ReporterOptions{BaseURL: base, Key: "acme-notes", SDK: "contentsvc-go/1 (demo users)"})
	flushed := make(chan struct{})
	go func() { defer close(flushed); rep.Run(ctx, 2*time.Second) }()
	defer func() { <-flushed }()
	type user struct {
		id      string
		country country
		client  *sdk.Client
	}
	httpc := &http.Client{Timeout: 5 * time.Second}
	// Each user's device has its own SDK, and so its own cache.
	newClient := func(c country) *sdk.Client {
		return sdk.New(sdk.Options{BaseURL: base, Header: http.Header{model.RegionHeader: {c.region}, contentsvc.CountryHeader: {c.code}},
			Logger: u.Log, HTTP: httpc})
	}
	users := make([]user, u.Users)
	for i := range users {
		c := countries[i%len(countries)]
		users[i] = user{id: fmt.Sprintf("user-%03d", i), country: c, client: newClient(c)}
	}
	// Users render at once, as real ones do, at most maxRendering of
	// them: a render the rate calls for while all are busy is skipped.
	const maxRendering = 16
	busy := make(chan struct{}, maxRendering)
	var rendering sync.WaitGroup
	defer rendering.Wait()
	t := time.NewTicker(time.Duration(float64(time.Second) / u.RendersPerSecond))
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case busy <- struct{}{}:
		default:
			continue
		}
		who := users[i%len(users)]
		if i%newVisitorEvery == newVisitorEvery-1 {
			// A first visit: a device whose SDK has seen nothing yet.
			c := countries[(i/newVisitorEvery)%len(countries)]
			who = user{id: fmt.Sprintf("visitor-%d", i), country: c, client: newClient(c)}
		}
		rendering.Go(func() {
			defer func() { <-busy }()
			start := time.Now()
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			r := who.client.Render(rctx, who.id, map[string]string{"country": who.country.code})
			cancel()
			if ctx.Err() == nil {
				rep.Render(who.id, who.country.code, r, time.Since(start), start)
			}
		})
	}
}
