package io.github.leaderelection.harness;

/**
 * Starts a control plane and keeps it running until Ctrl-C: for trying the controller by hand
 * ({@code java -jar target/leaderelection.jar --kubeconfig <printed path> ...}).
 */
public final class ControlPlaneMain {

  private ControlPlaneMain() {
  }

  public static void main(String[] args) throws InterruptedException {
    ControlPlane controlPlane = ControlPlane.start();
    Runtime.getRuntime().addShutdownHook(new Thread(controlPlane::close));
    System.out.println("kube-apiserver: " + controlPlane.url());
    System.out.println("kubeconfig:     " + controlPlane.kubeconfig());
    System.out.println("kubectl:        " + controlPlane.kubectlBinary());
    System.out.flush();
    Thread.currentThread().join();
  }
}
