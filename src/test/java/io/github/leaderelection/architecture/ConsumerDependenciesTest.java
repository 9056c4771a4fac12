package io.github.leaderelection.architecture;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * What a project that depends on the library gets (issue 16): fabric8 (the API and the JDK HTTP
 * client, not Vert.x) and slf4j-api, nothing else. Read from pom.xml: every dependency that is
 * neither test-scoped nor optional is passed on to a consumer, so those must be exactly the
 * library's; the application's (picocli, logback, Prometheus) must be optional. Profiles count
 * too. The Spring Boot integration's Spring dependencies are provided and optional (a Boot
 * application has them; the controller's jar and image do not). {@link PackageBoundariesTest}
 * keeps the code within these dependencies.
 */
@DisplayName("A consumer of the library gets fabric8 (API + JDK HTTP client) and slf4j-api only")
class ConsumerDependenciesTest {

  /** The dependencies passed on to a consumer (groupId:artifactId). */
  static final Set<String> LIBRARY = Set.of(
      "io.fabric8:kubernetes-client", "io.fabric8:kubernetes-httpclient-jdk", "org.slf4j:slf4j-api");

  /** The application's own dependencies: on this project's class path, never a consumer's. */
  static final Set<String> APP_ONLY = Set.of(
      "info.picocli:picocli", "ch.qos.logback:logback-classic",
      "io.prometheus:prometheus-metrics-core",
      "io.prometheus:prometheus-metrics-exposition-textformats",
      "io.prometheus:prometheus-metrics-instrumentation-jvm");

  /**
   * The Spring Boot integration's (io.github.leaderelection.spring): compiled against, never
   * passed on nor packaged: provided and optional.
   */
  static final Set<String> SPRING_ONLY = Set.of(
      "org.springframework.boot:spring-boot-autoconfigure",
      "org.springframework.boot:spring-boot-actuator", "io.micrometer:micrometer-core",
      "org.springframework.integration:spring-integration-core");

  static final String VERTX = "io.fabric8:kubernetes-httpclient-vertx";

  private Document pom;

  @BeforeEach
  void readPom() throws Exception {
    pom = DocumentBuilderFactory.newInstance().newDocumentBuilder()
        .parse(Path.of("pom.xml").toFile());
  }

  /** Everything wrong with the dependencies of {@code pom}; empty when a consumer gets LIBRARY. */
  static List<String> problems(Document pom) {
    List<String> problems = new ArrayList<>();
    Set<String> passedOn = new TreeSet<>();
    Set<String> optional = new TreeSet<>();
    Set<String> spring = new TreeSet<>();
    for (Element dependency : dependencies(pom)) {
      String scope = text(dependency, "scope");
      if (scope.equals("test")) {
        continue;
      }
      String key = text(dependency, "groupId") + ":" + text(dependency, "artifactId");
      if (scope.equals("provided") && SPRING_ONLY.contains(key)) {
        if (!text(dependency, "optional").equals("true")) {
          problems.add(key + " is provided but not optional");
        }
        spring.add(key);
        continue;
      }
      if (!scope.isEmpty() && !scope.equals("compile") && !scope.equals("runtime")) {
        problems.add(key + " has scope " + scope + " (compile, runtime or test only)");
      }
      if (text(dependency, "optional").equals("true")) {
        optional.add(key);
      } else {
        passedOn.add(key);
        if (key.equals("io.fabric8:kubernetes-client") && !excludes(dependency, VERTX)) {
          problems.add(key + " does not exclude " + VERTX);
        }
      }
    }
    if (!passedOn.equals(LIBRARY)) {
      problems.add("passed on to a consumer: " + passedOn + ", expected " + new TreeSet<>(LIBRARY));
    }
    if (!optional.equals(APP_ONLY)) {
      problems.add("optional: " + optional + ", expected " + new TreeSet<>(APP_ONLY));
    }
    if (!spring.equals(SPRING_ONLY)) {
      problems.add("provided and optional: " + spring + ", expected "
          + new TreeSet<>(SPRING_ONLY));
    }
    return problems;
  }

  /** The project's dependencies and those of its profiles, not dependencyManagement's. */
  private static List<Element> dependencies(Document pom) {
    List<Element> result = new ArrayList<>();
    for (Element dependencies : descendants(pom.getDocumentElement(), "dependencies")) {
      String parent = dependencies.getParentNode().getNodeName();
      if (parent.equals("project") || parent.equals("profile")) {
        result.addAll(children(dependencies, "dependency"));
      }
    }
    return result;
  }

  private static boolean excludes(Element dependency, String key) {
    for (Element exclusion : descendants(dependency, "exclusion")) {
      if ((text(exclusion, "groupId") + ":" + text(exclusion, "artifactId")).equals(key)) {
        return true;
      }
    }
    return false;
  }

  private static String text(Element element, String child) {
    List<Element> found = children(element, child);
    return found.isEmpty() ? "" : found.get(0).getTextContent().trim();
  }

  private static List<Element> children(Element element, String name) {
    List<Element> result = new ArrayList<>();
    for (Node n = element.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element e && e.getNodeName().equals(name)) {
        result.add(e);
      }
    }
    return result;
  }

  private static List<Element> descendants(Element element, String name) {
    List<Element> result = new ArrayList<>();
    var list = element.getElementsByTagName(name);
    for (int i = 0; i < list.getLength(); i++) {
      result.add((Element) list.item(i));
    }
    return result;
  }

  private Element dependency(String key) {
    return dependencies(pom).stream()
        .filter(d -> (text(d, "groupId") + ":" + text(d, "artifactId")).equals(key))
        .findFirst().orElseThrow(() -> new AssertionError("pom.xml has no dependency " + key));
  }

  private static void add(Element parent, String name, String text) {
    Element child = parent.getOwnerDocument().createElement(name);
    child.setTextContent(text);
    parent.appendChild(child);
  }

  @Test
  @DisplayName("pom.xml passes on exactly kubernetes-client (without Vert.x), kubernetes-httpclient-jdk and slf4j-api")
  void thePomPassesOnTheLibrarysDependenciesOnly() {
    assertThat(problems(pom)).isEmpty();
  }

  @Nested
  @DisplayName("The check reports a pom.xml that would give a consumer more")
  class TheCheckCanFail {

    @Test
    @DisplayName("an application dependency that is not optional")
    void anAppDependencyThatIsNotOptional() {
      Element picocli = dependency("info.picocli:picocli");
      picocli.removeChild(children(picocli, "optional").get(0));
      assertThat(problems(pom)).anySatisfy(p -> assertThat(p)
          .startsWith("passed on to a consumer").contains("info.picocli:picocli"));
    }

    @Test
    @DisplayName("a new compile dependency")
    void aNewCompileDependency() {
      Element dependency = pom.createElement("dependency");
      add(dependency, "groupId", "com.google.guava");
      add(dependency, "artifactId", "guava");
      dependency(LIBRARY.iterator().next()).getParentNode().appendChild(dependency);
      assertThat(problems(pom)).anySatisfy(p -> assertThat(p).contains("com.google.guava:guava"));
    }

    @Test
    @DisplayName("a Spring dependency of the integration that is not optional")
    void aSpringDependencyThatIsNotOptional() {
      Element boot = dependency("org.springframework.boot:spring-boot-autoconfigure");
      boot.removeChild(children(boot, "optional").get(0));
      assertThat(problems(pom)).contains(
          "org.springframework.boot:spring-boot-autoconfigure is provided but not optional");
    }

    @Test
    @DisplayName("kubernetes-client without the Vert.x exclusion")
    void vertxNotExcluded() {
      Element client = dependency("io.fabric8:kubernetes-client");
      client.removeChild(children(client, "exclusions").get(0));
      assertThat(problems(pom)).contains(
          "io.fabric8:kubernetes-client does not exclude io.fabric8:kubernetes-httpclient-vertx");
    }
  }
}
