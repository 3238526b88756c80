package io.example.hybrid.fraud;

import java.io.Serializable;
import java.util.Iterator;
import java.util.Set;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A versioned rule set: per pattern, whether it runs and its thresholds, in the units the
 * detector compares (cents and ms). Read from the JSON the project's `RuleSet` model writes
 * ({"version": n, "thresholds": {...}}): the job checks every value itself, because anyone who
 * can write to the rules topic can send one, and a rule set it refuses leaves the one in force.
 */
public final class Rules implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Every threshold field, named as in the project's CepThresholds (a unit test checks it). */
  static final Set<String> FIELDS =
      Set.of(
          "card_testing_enabled", "card_testing_small", "card_testing_min_small",
          "card_testing_large", "card_testing_window_s", "velocity_enabled", "velocity_count",
          "velocity_window_s", "travel_enabled", "travel_min_km", "travel_max_kmh",
          "travel_window_s", "escalation_enabled", "escalation_factor", "escalation_min_final",
          "escalation_window_s");

  // the bounds of domain/fraud/monitor.py, checked again here
  private static final double MAX_AMOUNT = 1e9;
  private static final long MAX_REPEAT = 1000;
  private static final long MAX_WINDOW_S = 7 * 24 * 3600;
  private static final double HALF_EARTH_KM = 20_038.0;

  final long version;
  /** the rule set as it came, kept in broadcast state (a restore parses it again) */
  final String json;

  final boolean cardTesting;
  final long cardTestingSmall;
  final int cardTestingMinSmall;
  final long cardTestingLarge;
  final long cardTestingWindow;
  final boolean velocity;
  final int velocityCount;
  final long velocityWindow;
  final boolean travel;
  final double travelMinKm;
  final double travelMaxKmh;
  final long travelWindow;
  final boolean escalation;
  final double escalationFactor;
  final long escalationMinFinal;
  final long escalationWindow;
  final long widest;

  private Rules(String json, JsonNode root) {
    this.json = json;
    if (!root.isObject() || !root.path("version").canConvertToLong()) {
      throw new IllegalArgumentException("a rule set is {\"version\": n, \"thresholds\": {...}}");
    }
    version = root.get("version").asLong();
    if (version < 0) {
      throw new IllegalArgumentException("version must be at least 0, not " + version);
    }
    JsonNode t = root.path("thresholds");
    if (!t.isObject()) {
      throw new IllegalArgumentException("the rule set has no thresholds object");
    }
    for (Iterator<String> names = t.fieldNames(); names.hasNext(); ) {
      String name = names.next();
      if (!FIELDS.contains(name)) {
        throw new IllegalArgumentException("unknown threshold " + name);
      }
    }
    cardTesting = flag(t, "card_testing_enabled");
    cardTestingSmall = cents(t, "card_testing_small");
    cardTestingMinSmall = (int) count(t, "card_testing_min_small", 1, MAX_REPEAT);
    cardTestingLarge = cents(t, "card_testing_large");
    cardTestingWindow = window(t, "card_testing_window_s");
    velocity = flag(t, "velocity_enabled");
    velocityCount = (int) count(t, "velocity_count", 2, MAX_REPEAT);
    velocityWindow = window(t, "velocity_window_s");
    travel = flag(t, "travel_enabled");
    travelMinKm = number(t, "travel_min_km", 0, HALF_EARTH_KM);
    travelMaxKmh = number(t, "travel_max_kmh", 0, 1e6);
    travelWindow = window(t, "travel_window_s");
    escalation = flag(t, "escalation_enabled");
    escalationFactor = number(t, "escalation_factor", 1, 1000);
    escalationMinFinal = cents(t, "escalation_min_final");
    escalationWindow = window(t, "escalation_window_s");
    if (cardTestingSmall >= cardTestingLarge) {
      throw new IllegalArgumentException(
          "card_testing_small (" + Evaluate.money(cardTestingSmall) + ") must be below"
              + " card_testing_large (" + Evaluate.money(cardTestingLarge) + ")");
    }
    widest =
        Math.max(
            Math.max(cardTestingWindow, velocityWindow), Math.max(travelWindow, escalationWindow));
  }

  /** The rule set in `json`; IllegalArgumentException says what is wrong with it. */
  public static Rules parse(String json) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(json);
    } catch (Exception notJson) {
      throw new IllegalArgumentException("the rule set is not JSON: " + notJson.getMessage());
    }
    if (root == null) {
      throw new IllegalArgumentException("the rule set is empty");
    }
    return new Rules(json, root);
  }

  /** The version a rule set says it is, even one that is refused; -1 when it says none. */
  static long versionOf(String json) {
    try {
      JsonNode version = new ObjectMapper().readTree(json).path("version");
      return version.canConvertToLong() ? version.asLong() : -1;
    } catch (Exception notJson) {
      return -1;
    }
  }

  /** The same rules, whatever the version and however the JSON was written. */
  boolean sameThresholds(Rules other) {
    return cardTesting == other.cardTesting
        && cardTestingSmall == other.cardTestingSmall
        && cardTestingMinSmall == other.cardTestingMinSmall
        && cardTestingLarge == other.cardTestingLarge
        && cardTestingWindow == other.cardTestingWindow
        && velocity == other.velocity
        && velocityCount == other.velocityCount
        && velocityWindow == other.velocityWindow
        && travel == other.travel
        && travelMinKm == other.travelMinKm
        && travelMaxKmh == other.travelMaxKmh
        && travelWindow == other.travelWindow
        && escalation == other.escalation
        && escalationFactor == other.escalationFactor
        && escalationMinFinal == other.escalationMinFinal
        && escalationWindow == other.escalationWindow;
  }

  private static JsonNode field(JsonNode t, String name) {
    JsonNode value = t.get(name);
    if (value == null || value.isNull()) {
      throw new IllegalArgumentException("missing threshold " + name);
    }
    return value;
  }

  private static boolean flag(JsonNode t, String name) {
    JsonNode value = field(t, name);
    if (!value.isBoolean()) {
      throw new IllegalArgumentException(name + " must be true or false, not " + value);
    }
    return value.asBoolean();
  }

  /** greater than `above`, at most `max` */
  private static double number(JsonNode t, String name, double above, double max) {
    JsonNode value = field(t, name);
    double x = value.asDouble(Double.NaN);
    if (!value.isNumber() || !(x > above && x <= max)) {
      throw new IllegalArgumentException(
          name + " must be a number above " + above + " and at most " + max + ", not " + value);
    }
    return x;
  }

  private static long cents(JsonNode t, String name) {
    return Math.round(number(t, name, 0, MAX_AMOUNT) * 100);
  }

  private static long window(JsonNode t, String name) {
    return count(t, name, 1, MAX_WINDOW_S) * 1000;
  }

  private static long count(JsonNode t, String name, long min, long max) {
    JsonNode value = field(t, name);
    if (!value.canConvertToExactIntegral() || value.asLong() < min || value.asLong() > max) {
      throw new IllegalArgumentException(
          name + " must be a whole number from " + min + " to " + max + ", not " + value);
    }
    return value.asLong();
  }
}
