// The article's leader-election program on client-go, as the benchmark's third arm: RunOrDie
// with a LeaseLock, 15 s lease / 10 s renew deadline / 2 s retry period, ReleaseOnCancel, and
// "doing stuff..." every 5 s while leading. Built by scripts/bench.sh with this machine's Go.
//
// Flags are the ones the benchmark's harness passes to every arm (--lease-name, --lease-namespace,
// --identity, --kubeconfig, the timings); --health-port is accepted and ignored (the article's
// program serves nothing). Identity defaults to $POD_NAME, the namespace to $POD_NAMESPACE.
//
// The benchmark reads every arm's klog lines the same way. client-go 0.36 logs its own
// "Attempting to acquire leader lease..." and "Successfully acquired lease" as structured
// messages, so the program also logs the article's plain lines at the same moments: right
// before RunOrDie (whose first step is the first Lease request) and first thing in
// OnStartedLeading.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
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

func buildConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return rest.InClusterConfig()
}

func main() {
	var kubeconfig, leaseName, leaseNamespace, id string
	var leaseDuration, renewDeadline, retryPeriod, workInterval time.Duration
	var healthPort int
	klog.InitFlags(nil)
	flag.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (in-cluster when empty)")
	flag.StringVar(&leaseName, "lease-name", "", "name of the Lease")
	flag.StringVar(&leaseNamespace, "lease-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the Lease")
	flag.StringVar(&id, "identity", os.Getenv("POD_NAME"), "this replica's identity")
	flag.DurationVar(&leaseDuration, "lease-duration", 15*time.Second, "lease duration")
	flag.DurationVar(&renewDeadline, "renew-deadline", 10*time.Second, "renew deadline")
	flag.DurationVar(&retryPeriod, "retry-period", 2*time.Second, "retry period")
	flag.DurationVar(&workInterval, "work-interval", 5*time.Second, "time between two units of work")
	flag.IntVar(&healthPort, "health-port", 0, "ignored")
	flag.Parse()
	if leaseName == "" {
		klog.Fatal("unable to get lease lock resource name (missing --lease-name flag).")
	}
	if leaseNamespace == "" {
		leaseNamespace = "default"
	}
	if id == "" {
		id, _ = os.Hostname()
	}

	config, err := buildConfig(kubeconfig)
	if err != nil {
		klog.Fatal(err)
	}
	client := clientset.NewForConfigOrDie(config)

	run := func(ctx context.Context) {
		klog.Info("Controller loop...")
		ticker := time.NewTicker(workInterval)
		defer ticker.Stop()
		for {
			klog.Info("doing stuff...")
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		klog.Info("Received termination, signaling shutdown")
		cancel()
	}()

	lock := &resourcelock.LeaseLock{
		LeaseMeta: metav1.ObjectMeta{Name: leaseName, Namespace: leaseNamespace},
		Client:    client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{
			Identity: id,
		},
	}

	klog.Infof("attempting to acquire leader lease %s/%s...", leaseNamespace, leaseName)
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		ReleaseOnCancel: true,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				klog.Infof("successfully acquired lease %s/%s", leaseNamespace, leaseName)
				run(ctx)
			},
			OnStoppedLeading: func() {
				klog.Infof("leader lost: %s", id)
				klog.Flush()
				os.Exit(0)
			},
			OnNewLeader: func(identity string) {
				if identity == id {
					klog.Info("still the leader!")
					return
				}
				klog.Infof("new leader is %s", identity)
			},
		},
	})
}
