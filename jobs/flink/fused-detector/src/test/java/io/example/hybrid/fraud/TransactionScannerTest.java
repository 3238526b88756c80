package io.example.hybrid.fraud;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.Objects;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The scanner is a shortcut, never a second definition: whatever it accepts, Jackson reads the
 * same fields from; what it declines goes to Jackson. Each case names the path it must take, so
 * that the records producers write stay on the fast one.
 */
class TransactionScannerTest {
  private static final String PRODUCED =
      "{\"schema_version\":1,\"txn_id\":\"t-1\",\"card_id\":\"card-a-1\","
          + "\"customer_id\":\"cust-a-1\",\"merchant_id\":\"m-FR-000123\","
          + "\"merchant_category\":\"grocery\",\"amount\":\"12.34\",\"currency\":\"EUR\","
          + "\"country\":\"FR\",\"lat\":48.85661234567891,\"lon\":2.3522219000000004,"
          + "\"channel\":\"pos\",\"event_time\":\"2026-12-04T21:00:00.123Z\"}";

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '`',
      value = {
        "what the producers write | fast | " + "`" + PRODUCED + "`",
        "spaces and newlines | fast | `{ \"schema_version\" : 1 ,\n \"txn_id\" :\t\"t\" }`",
        "amount as a number | fast | `{\"schema_version\":1,\"amount\":12.5}`",
        "amount with an exponent | fast | `{\"schema_version\":1,\"amount\":1.5e2}`",
        "whole, negative and exponent coordinates | fast"
            + " | `{\"lat\":48,\"lon\":-0.0,\"x\":1E-3,\"schema_version\":1}`",
        "seventeen digits | fast | `{\"lat\":-33.868819999999998,\"lon\":151.20929000000001}`",
        "nulls | fast | `{\"schema_version\":null,\"customer_id\":null,\"lat\":null}`",
        "duplicate names: the last wins | fast | `{\"txn_id\":\"a\",\"txn_id\":\"b\"}`",
        "what follows the object | fast | `{\"schema_version\":1} trailing`",
        "other version | fast | `{\"schema_version\":99,\"card_id\":\"c\"}`",
        "an escape | jackson | `{\"schema_version\":1,\"txn_id\":\"a\\\"b\",\"card_id\":\"c\"}`",
        "a unicode escape | jackson | `{\"card_id\":\"\\u0063ard\"}`",
        "non-ASCII | jackson | `{\"schema_version\":1,\"country\":\"Österreich\"}`",
        "version as a fraction | jackson | `{\"schema_version\":1.0}`",
        "version as a string | jackson | `{\"schema_version\":\"1\"}`",
        "negative version | jackson | `{\"schema_version\":-1}`",
        "a number where a string belongs | jackson | `{\"txn_id\":123}`",
        "a string where a number belongs | jackson | `{\"lat\":\"48.1\"}`",
        "a nested value | jackson | `{\"schema_version\":1,\"extra\":{\"a\":[1,2]}}`",
        "a boolean | jackson | `{\"schema_version\":1,\"flag\":true}`",
        "leading zero | jackson | `{\"lat\":01.5}`",
        "a bare point | jackson | `{\"lat\":1.}`",
        "a trailing comma | jackson | `{\"schema_version\":1,}`",
        "truncated | jackson | `{\"schema_version\": 1, \"card_id\": \"card-x\", \"event_time\": `",
        "empty object | jackson | `{}`",
        "not an object | jackson | `[1]`",
        "not JSON | jackson | `not json at all`",
        "nullx | jackson | `{\"txn_id\":nullx}`",
        "a control character | jackson | `{\"txn_id\":\"a\tb\"}`",
      })
  void theScannerAndJacksonAgree(String name, String path, String record) {
    byte[] bytes = record.getBytes(StandardCharsets.UTF_8);
    TransactionSchema.Fields fast = new TransactionSchema.Fields();
    boolean scanned = TransactionScanner.scan(bytes, fast);
    assertEquals(path.equals("fast"), scanned, "the path taken");
    TransactionSchema.Fields jackson = new TransactionSchema.Fields();
    boolean parsed = TransactionSchema.jackson(bytes, jackson);
    if (scanned) {
      assertEquals(true, parsed, "Jackson reads what the scanner accepts");
      assertEquals(describe(jackson), describe(fast));
    }
  }

  @ParameterizedTest
  @CsvSource({"1E400", "-1e-400", "0.1", "123456789012345678901234567890.5"})
  void coordinatesAreTheDoublesJacksonReads(String number) {
    byte[] bytes = ("{\"lat\":" + number + "}").getBytes(StandardCharsets.UTF_8);
    TransactionSchema.Fields fast = new TransactionSchema.Fields();
    TransactionSchema.Fields jackson = new TransactionSchema.Fields();
    assertEquals(true, TransactionScanner.scan(bytes, fast));
    assertEquals(true, TransactionSchema.jackson(bytes, jackson));
    assertEquals(Double.doubleToRawLongBits(jackson.lat), Double.doubleToRawLongBits(fast.lat));
  }

  private static String describe(TransactionSchema.Fields f) {
    return String.join(
        "|",
        Objects.toString(f.schemaVersion),
        Objects.toString(f.txnId),
        Objects.toString(f.cardId),
        Objects.toString(f.customerId),
        Objects.toString(f.amount),
        Objects.toString(f.country),
        Objects.toString(f.eventTime),
        f.lat == null ? "null" : Long.toString(Double.doubleToRawLongBits(f.lat)),
        f.lon == null ? "null" : Long.toString(Double.doubleToRawLongBits(f.lon)));
  }
}
