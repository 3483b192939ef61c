// Command events measures contentsvc's event pipeline as its users' SDKs
// meet it: senders (the Go SDK's reporter, flushing every 200 ms each)
// send render events at a bounded rate to `nines contentsvc`, run as a
// child process on loopback, which is killed with SIGKILL and started
// again -kills times during the run (and, with -nats, the NATS server it
// queues on is restarted once). At the end every sender has had its
// events taken and the queue is drained; the events made are compared
// with those contentsvc counted: none lost, none counted twice. It also
// reports the events a second taken and contentsvc's peak RSS.
//
//	go run ./bench/events -rate 2000 -duration 60s -kills 2 -nats
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nines-sre/nines/bench/internal/loadgen"
	"github.com/nines-sre/nines/contentsvc/sdk"
	"github.com/nines-sre/nines/internal/proc"
)

func main() {
	rate := flag.Int("rate", 2000, "render events a second, all senders together (at most 100,000)")
	duration := flag.Duration("duration", 60*time.Second, "how long the senders make events (at most 10m)")
	senders := flag.Int("senders", 20, "senders: each an SDK reporter, as one user's device")
	kills := flag.Int("kills", 2, "times contentsvc is killed with SIGKILL and started again during the run")
	useNATS := flag.Bool("nats", false, "queue on NATS JetStream (a server run here, restarted once during the run)")
	binary := flag.String("binary", "", "a nines binary (default: build ./cmd/nines)")
	flag.Parse()
	if *rate < 1 || *rate > 100000 || *duration <= 0 || *duration > 10*time.Minute || *senders < 1 || *senders > 1000 || *kills < 0 || *kills > 10 {
		log.Fatal("-rate 1..100000, -duration up to 10m, -senders 1..1000, -kills 0..10")
	}
	dir, bin, cleanup, err := loadgen.Workdir("bench-events", "./cmd/nines", *binary)
	if err != nil {
		log.Fatal(err)
	}
	defer cleanup()

	var ns *server.Server
	var natsOpts *server.Options
	svc := &service{bin: bin, dir: dir}
	if *useNATS {
		natsOpts = &server.Options{Host: "127.0.0.1", Port: freePort(), JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoLog: true, NoSigs: true}
		if ns, err = startNATS(natsOpts); err != nil {
			log.Fatal(err)
		}
		svc.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", natsOpts.Port)
	}
	svc.addr = fmt.Sprintf("127.0.0.1:%d", freePort())
	if err := svc.start(); err != nil {
		log.Fatal(err)
	}
	base := "http://" + svc.addr

	reporters := make([]*sdk.Reporter, *senders)
	for i := range reporters {
		reporters[i] = sdk.NewReporter(sdk.ReporterOptions{BaseURL: base, Key: "bench-events", SDK: "contentsvc-go/1 (bench)",
			HTTP: &http.Client{Timeout: 5 * time.Second}, MaxPending: 1 << 30})
	}
	var made, taken atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	perTick := max(1, *rate / *senders / 10) // every 100 ms
	for _, rep := range reporters {
		wg.Go(func() { // the device's events
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-t.C:
					now := time.Now()
					for range perTick {
						rep.Render("bench-user", "GB", sdk.Render{Level: sdk.Fresh}, 10*time.Millisecond, now)
					}
					made.Add(int64(perTick))
				}
			}
		})
		wg.Go(func() { // its SDK's flushes
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-t.C:
					n, _ := rep.Flush(ctx)
					taken.Add(int64(n))
				}
			}
		})
	}
	// The faults: contentsvc killed and started again, evenly through the
	// run; NATS restarted between the first two.
	faults := make(chan string, 32)
	wg.Go(func() {
		steps := *kills + 1
		for i := 1; i <= *kills; i++ {
			if !sleepUntil(ctx, start.Add(*duration*time.Duration(i)/time.Duration(steps))) {
				return
			}
			svc.kill()
			time.Sleep(500 * time.Millisecond)
			if err := svc.start(); err != nil {
				log.Fatal(err)
			}
			faults <- fmt.Sprintf("%5.1f s  contentsvc killed (SIGKILL) and started again", time.Since(start).Seconds())
			if i == 1 && ns != nil {
				if !sleepUntil(ctx, start.Add(*duration*3/time.Duration(2*steps))) {
					return
				}
				ns.Shutdown()
				ns.WaitForShutdown()
				time.Sleep(time.Second)
				if ns, err = startNATS(natsOpts); err != nil {
					log.Fatal(err)
				}
				faults <- fmt.Sprintf("%5.1f s  NATS server restarted", time.Since(start).Seconds())
			}
		}
	})
	wg.Wait()
	close(faults)
	during := taken.Load()
	wall := time.Since(start)

	// Every sender's events taken, then the queue drained.
	drain := time.Now().Add(2 * time.Minute)
	for {
		waiting := 0
		for _, rep := range reporters {
			n, _ := rep.Flush(context.Background())
			taken.Add(int64(n))
			w, _ := rep.Pending()
			waiting += w
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(drain) {
			log.Fatalf("%d events still not taken after two minutes", waiting)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var totals struct {
		Processed map[string]int64 `json:"processed"`
		Queued    int              `json:"queued"`
	}
	for {
		if err := getJSON(base+"/admin/events", &totals); err == nil && totals.Queued == 0 && totals.Processed["render"] >= made.Load() {
			break
		}
		if time.Now().After(drain) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // anything still in flight would show now
	if err := getJSON(base+"/admin/events", &totals); err != nil {
		log.Fatal(err)
	}
	svc.stop()
	if ns != nil {
		ns.Shutdown()
	}
	counted := totals.Processed["render"]
	queue := "embedded queue"
	if ns != nil {
		queue = "NATS JetStream"
	}
	fmt.Printf("contentsvc on the %s; %d senders at %d events a second for %s\n", queue, *senders, *rate, *duration)
	for f := range faults {
		fmt.Println(f)
	}
	fmt.Printf("events made %d, taken by the intake %d (during the run %d: %.0f a second), counted %d\n", made.Load(), taken.Load(), during, float64(during)/wall.Seconds(), counted)
	posted := 0
	for _, rep := range reporters {
		posted += rep.Posted()
	}
	fmt.Printf("events posted %d: %d of them sent again (no answer, 429 or 503); lost %d, counted twice %d\n", posted, int64(posted)-taken.Load(),
		max(0, made.Load()-counted), max(0, counted-made.Load()))
	fmt.Printf("contentsvc peak RSS %.1f MiB (the largest of its %d processes)\n", float64(svc.peak)/(1<<20), svc.runs)
	if counted != made.Load() {
		os.Exit(1)
	}
}

// service is `nines contentsvc` as a child process.
type service struct {
	bin, dir, addr, natsURL string
	cmd                     *exec.Cmd
	peak                    int64
	runs                    int
}

func (s *service) start() error {
	args := []string{"contentsvc", "--listen", s.addr, "--data", filepath.Join(s.dir, "contentsvc")}
	if s.natsURL != "" {
		args = append(args, "--nats", s.natsURL)
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "contentsvc.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.runs++
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + s.addr + "/healthz"); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return fmt.Errorf("contentsvc did not start in 60 s (see %s)", filepath.Join(s.dir, "contentsvc.log"))
}

func (s *service) notePeak() {
	if n, err := proc.PeakRSS(s.cmd.Process.Pid); err == nil {
		s.peak = max(s.peak, n)
	}
}

func (s *service) kill() {
	s.notePeak()
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
}

func (s *service) stop() {
	s.notePeak()
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
}

func startNATS(o *server.Options) (*server.Server, error) {
	ns, err := server.NewServer(o)
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		return nil, fmt.Errorf("NATS did not start")
	}
	return ns, nil
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(p)
	return n
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
