package io.example.hybrid.fraud;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.format.DateTimeParseException;
import org.apache.flink.api.common.serialization.AbstractDeserializationSchema;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadFeature;

/**
 * One parse per record (no tree), in the source (so that watermarks are per Kafka partition, as
 * in the SQL job): a valid transaction by the rules of fraud_cep.py's `transactions` view, or
 * the record's bytes for the dead letters. The producers' plain JSON is read by
 * {@link TransactionScanner}, anything else by Jackson's streaming parser.
 */
public final class TransactionSchema extends AbstractDeserializationSchema<Parsed> {
  private static final long serialVersionUID = 1L;

  // lat and lon through FastDoubleParser: the JDK's parseDouble was a tenth of the parse
  private static final JsonFactory JSON =
      JsonFactory.builder().enable(StreamReadFeature.USE_FAST_DOUBLE_PARSER).build();

  @Override
  public Parsed deserialize(byte[] record) {
    Parsed parsed = new Parsed();
    parsed.txn = parse(record, parsed);
    if (parsed.txn == null) {
      parsed.invalid = record;
    }
    return parsed;
  }

  private Txn parse(byte[] record, Parsed parsed) {
    Fields f = new Fields();
    if (!TransactionScanner.scan(record, f)) {
      f = new Fields();
      if (!jackson(record, f)) {
        return null;
      }
    }
    if (f.schemaVersion != 1) {
      return null;
    }
    try {
      // like the SQL table's `ts`: the event time whenever it parses, even of an invalid record
      parsed.ts = f.eventTime == null ? 0 : EventTime.epochMillis(f.eventTime);
    } catch (DateTimeParseException unparseable) {
      return null;
    }
    if (f.txnId == null || f.cardId == null || f.eventTime == null || f.lat == null
        || f.lon == null || f.amount == null) {
      return null;
    }
    long cents;
    try {
      cents = cents(f.amount);
    } catch (NumberFormatException | ArithmeticException invalid) {
      return null;
    }
    if (cents <= 0) {
      return null;
    }
    parsed.cardId = f.cardId;
    return new Txn(parsed.ts, f.txnId, f.customerId, cents, f.country, f.lat, f.lon);
  }

  /** The fields by Jackson's streaming parser; false when the record is not a JSON object. */
  static boolean jackson(byte[] record, Fields f) {
    try (JsonParser parser = JSON.createParser(record)) {
      if (parser.nextToken() != JsonToken.START_OBJECT) {
        return false;
      }
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        String name = parser.currentName();
        JsonToken value = parser.nextToken();
        switch (name) {
          case "schema_version" -> f.schemaVersion = parser.getValueAsInt(0);
          case "txn_id" -> f.txnId = parser.getValueAsString();
          case "card_id" -> f.cardId = parser.getValueAsString();
          case "customer_id" -> f.customerId = parser.getValueAsString();
          case "amount" -> f.amount = parser.getValueAsString();
          case "country" -> f.country = parser.getValueAsString();
          case "event_time" -> f.eventTime = parser.getValueAsString();
          case "lat" -> f.lat = value.isNumeric() ? parser.getDoubleValue() : null;
          case "lon" -> f.lon = value.isNumeric() ? parser.getDoubleValue() : null;
          default -> parser.skipChildren();
        }
      }
      return true;
    } catch (Exception notJson) {
      return false;
    }
  }

  /**
   * The amount in cents, rounded half up as the SQL job's DECIMAL(12, 2) cast rounds it: plain
   * amounts with at most two decimals (what producers write) without BigDecimal.
   */
  static long cents(String amount) {
    int n = amount.length();
    int point = amount.indexOf('.');
    int whole = point < 0 ? n : point;
    int decimals = point < 0 ? 0 : n - point - 1;
    if (whole >= 1 && whole <= 10 && decimals <= 2 && (point < 0 || decimals >= 1)) {
      long value = 0;
      boolean plain = true;
      for (int i = 0; i < n && plain; i++) {
        char c = amount.charAt(i);
        if (i == point) {
          continue;
        }
        plain = c >= '0' && c <= '9';
        value = value * 10 + (c - '0');
      }
      if (plain) {
        return decimals == 2 ? value : decimals == 1 ? value * 10 : value * 100;
      }
    }
    return new BigDecimal(amount).setScale(2, RoundingMode.HALF_UP).movePointRight(2)
        .longValueExact();
  }

  /** The fields detection reads, as the record has them. */
  static final class Fields {
    int schemaVersion;
    String txnId;
    String cardId;
    String customerId;
    String amount;
    String country;
    String eventTime;
    Double lat;
    Double lon;
  }
}
