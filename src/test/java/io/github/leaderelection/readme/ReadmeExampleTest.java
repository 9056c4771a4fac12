package io.github.leaderelection.readme;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.election.MockApi;
import io.github.leaderelection.election.Term;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.StringReader;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.FileObject;
import javax.tools.ForwardingJavaFileManager;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileManager;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPathFactory;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.xml.sax.InputSource;

/**
 * The README's "Use it as a library" section cannot rot: its example is taken from README.md (the
 * java block after the marker comment), compiled in memory against the test class path, and run
 * against fabric8's mock API server; its dependency snippet must match pom.xml.
 */
class ReadmeExampleTest {

  /** The comment in README.md right above the example's code block. */
  static final String MARKER = "<!-- compiled by ReadmeExampleTest";
  private static final Duration TIMEOUT = Duration.ofSeconds(30);
  private static final String IDENTITY = "readme-pod";
  private static final String RECORD = "my-lease-work";
  private static final String LEASE = "my-lease";

  @Nested
  @DisplayName("the example of 'Use it as a library'")
  class Example {

    @Test
    @DisplayName("compiles against the library and its dependencies (Java 17), with no error and"
        + " no deprecation or unchecked warning")
    void compiles() {
      Compiled compiled = compile(Readme.load());
      assertThat(compiled.problems()).as(compiled.report()).isEmpty();
      assertThat(compiled.classes()).containsKey(compiled.className());
    }

    @Test
    @DisplayName("is a whole program: a public class with main(String[]) that calls"
        + " start(KubernetesClient, String)")
    void isAWholeProgram() throws Exception {
      Compiled compiled = compile(Readme.load());
      assertThat(compiled.problems()).as(compiled.report()).isEmpty();
      Class<?> example = compiled.load();
      assertThat(Modifier.isPublic(example.getModifiers())).isTrue();
      Method main = example.getMethod("main", String[].class);
      assertThat(Modifier.isStatic(main.getModifiers())).isTrue();
      assertThat(start(example).getReturnType()).isEqualTo(LeaderElection.class);
      assertThat(Readme.load().example()).contains("start(client,");
    }

    @Test
    @DisplayName("runs: start(client, identity) leads on the Lease my-lease and records a unit in"
        + " the ConfigMap through a fenced write under the term's token; close() releases the"
        + " Lease")
    void runs() throws Exception {
      Compiled compiled = compile(Readme.load());
      assertThat(compiled.problems()).as(compiled.report()).isEmpty();
      Class<?> example = compiled.load();
      try (MockApi api = new MockApi()) {
        LeaderElection election = (LeaderElection) start(example).invoke(null, api.client(),
            IDENTITY);
        try {
          await().atMost(TIMEOUT).until(election::isLeader);
          Term term = election.currentTerm().orElseThrow();
          assertThat(term.fencingToken()).isPositive();
          ConfigMap cm = await().atMost(TIMEOUT).until(() -> record(api.client()),
              c -> c != null && c.getData() != null && c.getData().containsKey("lastUnit"));
          assertThat(cm.getMetadata().getAnnotations())
              .containsEntry("leaderelection.github.io/fencing-token",
                  Long.toString(term.fencingToken()))
              .containsEntry("leaderelection.github.io/fenced-by", IDENTITY);
          Lease lease = api.client().leases().inNamespace(MockApi.NAMESPACE).withName(LEASE)
              .get();
          assertThat(lease.getSpec().getHolderIdentity()).isEqualTo(IDENTITY);
        } finally {
          election.close();
        }
        assertThat(election.isLeader()).isFalse();
        assertThat(election.termination()).isDone();
        // Read with retries: on a loaded machine one read can time out (a test read, not the
        // election's).
        Lease released = await().atMost(TIMEOUT).ignoreExceptions().until(() -> api.client()
            .leases().inNamespace(MockApi.NAMESPACE).withName(LEASE).get(), l -> l != null);
        assertThat(released.getSpec().getHolderIdentity()).isNullOrEmpty();
      }
    }

    @Test
    @DisplayName("a change of the API the example uses is caught: the example with a renamed"
        + " builder method does not compile, and the failure points at the README line")
    void apiDriftIsCaught() {
      Readme readme = Readme.load();
      assertThat(readme.example()).contains(".periodicWork(");
      Compiled compiled = compile(readme.example().replace(".periodicWork(", ".periodicWorks("),
          readme.exampleLine());
      assertThat(compiled.problems()).isNotEmpty();
      assertThat(compiled.report()).contains("periodicWorks")
          .contains("README.md:" + (readme.exampleLine()
              + lineOf(readme.example(), ".periodicWork(")) + ":");
    }
  }

  @Nested
  @DisplayName("the README itself")
  class ReadmeFile {

    @Test
    @DisplayName("has exactly one marked example, a java block right after the marker")
    void oneMarkedExample() {
      Readme readme = Readme.load();
      assertThat(readme.text().split(Pattern.quote(MARKER), -1)).hasSize(2);
      assertThat(readme.example()).contains("LeaderElection.builder(");
    }

    @Test
    @DisplayName("a README without the marked block fails the check instead of passing it")
    void missingMarkerFails() {
      assertThatThrownBy(() -> new Readme("# no example here\n```java\nclass A {}\n```\n")
          .example())
          .isInstanceOf(AssertionError.class)
          .hasMessageContaining(MARKER);
    }

    @Test
    @DisplayName("its dependency snippet names the groupId, artifactId and version of pom.xml")
    void dependencyMatchesPom() throws Exception {
      String pom = Files.readString(root().resolve("pom.xml"));
      var doc = DocumentBuilderFactory.newDefaultInstance().newDocumentBuilder()
          .parse(new InputSource(new StringReader(pom)));
      var xpath = XPathFactory.newDefaultInstance().newXPath();
      String group = xpath.evaluate("/project/groupId", doc);
      String artifact = xpath.evaluate("/project/artifactId", doc);
      String version = xpath.evaluate("/project/version", doc);
      assertThat(version).isNotBlank();
      String section = Readme.load().librarySection();
      assertThat(section).contains("<dependency>\n"
          + "  <groupId>" + group + "</groupId>\n"
          + "  <artifactId>" + artifact + "</artifactId>\n"
          + "  <version>" + version + "</version>\n"
          + "</dependency>");
    }
  }

  // -----------------------------------------------------------------------------------------
  // README.md

  /** The project root: {@code -Dproject.root}, else the working directory (Maven's basedir). */
  static Path root() {
    return Path.of(System.getProperty("project.root", System.getProperty("user.dir")));
  }

  record Readme(String text) {

    static Readme load() {
      try {
        return new Readme(Files.readString(root().resolve("README.md"), StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new AssertionError("cannot read README.md in " + root()
            + " (set -Dproject.root to the project's directory)", e);
      }
    }

    /** The source of the java block that follows the marker. */
    String example() {
      String[] lines = text.split("\n", -1);
      int first = firstLine();
      StringBuilder source = new StringBuilder();
      for (int i = first; i < lines.length; i++) {
        if (lines[i].startsWith("```")) {
          return source.toString();
        }
        source.append(lines[i]).append('\n');
      }
      throw new AssertionError("README.md: the java block after " + MARKER + " is not closed");
    }

    /** The README line (1-based) of the example's first line. */
    int exampleLine() {
      return firstLine() + 1;
    }

    /** From the section's heading to the next level-2 heading. */
    String librarySection() {
      int start = text.indexOf("\n## Use it as a library\n");
      assertThat(start).as("README.md has a section '## Use it as a library'").isNotNegative();
      int end = text.indexOf("\n## ", start + 1);
      return end < 0 ? text.substring(start) : text.substring(start, end);
    }

    /** Index (0-based) of the example's first line of code. */
    private int firstLine() {
      String[] lines = text.split("\n", -1);
      for (int i = 0; i < lines.length; i++) {
        if (lines[i].startsWith(MARKER)) {
          if (i + 1 >= lines.length || !lines[i + 1].strip().equals("```java")) {
            throw new AssertionError("README.md line " + (i + 2) + ": expected a ```java block"
                + " right after " + MARKER);
          }
          return i + 2;
        }
      }
      throw new AssertionError("README.md has no line starting with " + MARKER
          + " followed by the example's ```java block");
    }
  }

  /** The 0-based line of the first occurrence of {@code needle} in {@code source}. */
  private static int lineOf(String source, String needle) {
    int at = source.indexOf(needle);
    return (int) source.substring(0, at).chars().filter(c -> c == '\n').count();
  }

  // -----------------------------------------------------------------------------------------
  // Compiling and loading in memory

  record Compiled(String className, List<Diagnostic<? extends JavaFileObject>> diagnostics,
      Map<String, byte[]> classes, int readmeLine) {

    /** Errors and the warnings asked for: none is allowed. */
    List<Diagnostic<? extends JavaFileObject>> problems() {
      return diagnostics.stream().filter(d -> d.getKind() != Diagnostic.Kind.NOTE
          && d.getKind() != Diagnostic.Kind.OTHER).toList();
    }

    /** Every diagnostic, placed on its README line. */
    String report() {
      StringBuilder out = new StringBuilder("compiling the README example (" + className
          + ") reported:\n");
      for (Diagnostic<? extends JavaFileObject> d : diagnostics) {
        out.append("README.md:").append(readmeLine + d.getLineNumber() - 1).append(": ")
            .append(d.getKind().name().toLowerCase(Locale.ROOT)).append(": ")
            .append(d.getMessage(Locale.ROOT)).append('\n');
      }
      return out.toString();
    }

    Class<?> load() throws ClassNotFoundException {
      ClassLoader loader = new ClassLoader(ReadmeExampleTest.class.getClassLoader()) {
        @Override
        protected Class<?> findClass(String name) throws ClassNotFoundException {
          byte[] bytes = classes.get(name);
          if (bytes == null) {
            throw new ClassNotFoundException(name);
          }
          return defineClass(name, bytes, 0, bytes.length);
        }
      };
      return loader.loadClass(className);
    }
  }

  private static final Pattern PUBLIC_CLASS =
      Pattern.compile("(?m)^public\\s+(?:final\\s+)?class\\s+(\\w+)");

  static Compiled compile(Readme readme) {
    return compile(readme.example(), readme.exampleLine());
  }

  /** Compiles {@code source}, whose first line is line {@code readmeLine} of README.md. */
  static Compiled compile(String source, int readmeLine) {
    Matcher m = PUBLIC_CLASS.matcher(source);
    assertThat(m.find()).as("the README example declares a public class").isTrue();
    String className = m.group(1);
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertThat(javac).as("a JDK's compiler (javax.tools)").isNotNull();
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    Map<String, byte[]> classes = new HashMap<>();
    StandardJavaFileManager standard =
        javac.getStandardFileManager(diagnostics, Locale.ROOT, StandardCharsets.UTF_8);
    JavaFileManager inMemory = new ForwardingJavaFileManager<>(standard) {
      @Override
      public JavaFileObject getJavaFileForOutput(Location location, String name,
          JavaFileObject.Kind kind, FileObject sibling) {
        return new SimpleJavaFileObject(URI.create("mem:///" + name.replace('.', '/')
            + kind.extension), kind) {
          @Override
          public OutputStream openOutputStream() {
            return new ByteArrayOutputStream() {
              @Override
              public void close() {
                classes.put(name, toByteArray());
              }
            };
          }
        };
      }
    };
    JavaFileObject unit = new SimpleJavaFileObject(URI.create("string:///" + className
        + ".java"), JavaFileObject.Kind.SOURCE) {
      @Override
      public CharSequence getCharContent(boolean ignoreEncodingErrors) {
        return source;
      }
    };
    List<String> options = new ArrayList<>(List.of("--release", "17", "-proc:none",
        "-Xlint:deprecation,unchecked,rawtypes", "-classpath",
        System.getProperty("java.class.path")));
    javac.getTask(null, inMemory, diagnostics, options, null, List.of(unit)).call();
    return new Compiled(className, diagnostics.getDiagnostics(), classes, readmeLine);
  }

  private static Method start(Class<?> example) throws NoSuchMethodException {
    Method start = example.getDeclaredMethod("start", KubernetesClient.class, String.class);
    assertThat(Modifier.isStatic(start.getModifiers())).as("start is static").isTrue();
    start.setAccessible(true);
    return start;
  }

  private static ConfigMap record(KubernetesClient client) {
    return client.configMaps().inNamespace(MockApi.NAMESPACE).withName(RECORD).get();
  }
}
