// The benchmark's "many elections in one process" scenario on client-go: one process, one
// clientset, N LeaderElectors (RunOrDie, LeaseLock, ReleaseOnCancel) on N Leases named
// <lease-name>-0 .. -(N-1); while one leads, a unit of work (a counter) every work interval.
// Built by scripts/bench.sh next to the article's program (../main.go).
//
// The clientset's client-side rate limiter is off (QPS -1): client-go's default (5 requests/s,
// burst 10) cannot carry 100 elections that each send 1 request/s, and a service running that
// many would raise it too.
//
// Logs "progress: leading L, following F, of N elections" whenever the counts change, like the
// Java programs the benchmark compares it with.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

type progress struct {
	mu                   sync.Mutex
	id                   string
	leading              []bool
	leader               []string
	lastLead, lastFollow int
}

func (p *progress) set(i int, lead *bool, holder *string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if lead != nil {
		p.leading[i] = *lead
	}
	if holder != nil {
		p.leader[i] = *holder
	}
	l, f := 0, 0
	for j := range p.leading {
		if p.leading[j] {
			l++
		} else if p.leader[j] != "" && p.leader[j] != p.id {
			f++
		}
	}
	if l != p.lastLead || f != p.lastFollow {
		p.lastLead, p.lastFollow = l, f
		klog.Infof("progress: leading %d, following %d, of %d elections", l, f, len(p.leading))
	}
}

func main() {
	var kubeconfig, leaseName, leaseNamespace, id string
	var leaseDuration, renewDeadline, retryPeriod, workInterval time.Duration
	var healthPort, elections int
	klog.InitFlags(nil)
	flag.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (in-cluster when empty)")
	flag.StringVar(&leaseName, "lease-name", "", "prefix of the Leases' names")
	flag.StringVar(&leaseNamespace, "lease-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the Leases")
	flag.StringVar(&id, "identity", os.Getenv("POD_NAME"), "this process's identity")
	flag.DurationVar(&leaseDuration, "lease-duration", 15*time.Second, "lease duration")
	flag.DurationVar(&renewDeadline, "renew-deadline", 10*time.Second, "renew deadline")
	flag.DurationVar(&retryPeriod, "retry-period", 2*time.Second, "retry period")
	flag.DurationVar(&workInterval, "work-interval", 5*time.Second, "time between two units of work")
	flag.IntVar(&healthPort, "health-port", 0, "ignored")
	flag.IntVar(&elections, "elections", 1, "number of elections (Leases) in this process")
	flag.Parse()
	if leaseName == "" {
		klog.Fatal("missing --lease-name")
	}
	if leaseNamespace == "" {
		leaseNamespace = "default"
	}
	var config *rest.Config
	var err error
	if kubeconfig != "" {
		config, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		config, err = rest.InClusterConfig()
	}
	if err != nil {
		klog.Fatal(err)
	}
	config.QPS = -1
	// Tells this process's requests apart in the API server's audit log (the benchmark's AuditLog).
	config.UserAgent = "bench-many/" + id
	client := clientset.NewForConfigOrDie(config)

	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)

	p := &progress{id: id, leading: make([]bool, elections), leader: make([]string, elections),
		lastLead: -1, lastFollow: -1}
	var units atomic.Int64
	var wg sync.WaitGroup
	klog.Infof("attempting to acquire leader lease %s/%s-* (%d elections)...", leaseNamespace,
		leaseName, elections)
	for i := 0; i < elections; i++ {
		i := i
		lock := &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", leaseName, i), Namespace: leaseNamespace},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		}
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			ReleaseOnCancel: true,
			LeaseDuration:   leaseDuration,
			RenewDeadline:   renewDeadline,
			RetryPeriod:     retryPeriod,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					t := true
					p.set(i, &t, nil)
					ticker := time.NewTicker(workInterval)
					defer ticker.Stop()
					for {
						units.Add(1)
						select {
						case <-ctx.Done():
							return
						case <-ticker.C:
						}
					}
				},
				OnStoppedLeading: func() {
					f := false
					p.set(i, &f, nil)
				},
				OnNewLeader: func(identity string) {
					p.set(i, nil, &identity)
				},
			},
		})
		if err != nil {
			klog.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Run returns when ctx is cancelled or leadership is lost; campaign again until the end.
			for ctx.Err() == nil {
				le.Run(ctx)
			}
		}()
	}
	<-ch
	klog.Info("Received termination, signaling shutdown")
	cancel()
	wg.Wait()
	klog.Infof("stopped (%d units of work done)", units.Load())
	klog.Flush()
}
