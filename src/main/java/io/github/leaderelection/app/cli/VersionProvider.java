package io.github.leaderelection.app.cli;

import picocli.CommandLine.IVersionProvider;

/** The version from the jar's manifest (set by Maven), so it is never out of date. */
final class VersionProvider implements IVersionProvider {

  @Override
  public String[] getVersion() {
    String version = VersionProvider.class.getPackage().getImplementationVersion();
    return new String[] {"leaderelection " + (version == null ? "(development build)" : version),
        "Java " + Runtime.version() + " on " + System.getProperty("os.name") + "/"
            + System.getProperty("os.arch")};
  }
}
