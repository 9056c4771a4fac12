package io.github.leaderelection.harness;

/**
 * Starts a control plane and keeps it running until Ctrl-C: for trying the controller by hand
 * ({@code java -jar target/leaderelection.jar --kubeconfig <printed path> ...}). With the argument
 * {@code --coordinated}, kube-apiserver runs with coordinated leader election on
 * ({@link ControlPlane#COORDINATED_FLAGS}), for trying {@code --coordinated} replicas.
 */
public final class ControlPlaneMain {

  private ControlPlaneMain() {
  }

  public static void main(String[] args) throws InterruptedException {
    boolean coordinated = java.util.List.of(args).contains("--coordinated");
    ControlPlane controlPlane = coordinated ? ControlPlane.start(ControlPlane.COORDINATED_FLAGS)
        : ControlPlane.start();
    Runtime.getRuntime().addShutdownHook(new Thread(controlPlane::close));
    System.out.println("kube-apiserver: " + controlPlane.url());
    System.out.println("kubeconfig:     " + controlPlane.kubeconfig());
    System.out.println("kubectl:        " + controlPlane.kubectlBinary());
    if (coordinated) {
      System.out.println("coordinated leader election: on (" + String.join(" ",
          ControlPlane.COORDINATED_FLAGS) + ")");
    }
    System.out.flush();
    Thread.currentThread().join();
  }
}
