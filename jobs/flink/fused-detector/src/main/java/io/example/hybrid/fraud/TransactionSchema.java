package io.example.hybrid.fraud;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.format.DateTimeParseException;
import org.apache.flink.api.common.serialization.AbstractDeserializationSchema;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * One streaming parse per record (no tree), in the source (so that watermarks are per Kafka partition, as in the
 * SQL job): a valid transaction by the rules of fraud_cep.py's `transactions` view, or the
 * record's bytes for the dead letters.
 */
public final class TransactionSchema extends AbstractDeserializationSchema<Parsed> {
  private static final long serialVersionUID = 1L;

  private transient ObjectMapper json;

  @Override
  public Parsed deserialize(byte[] record) {
    if (json == null) {
      json = new ObjectMapper();
    }
    Parsed parsed = new Parsed();
    parsed.txn = parse(record, parsed);
    if (parsed.txn == null) {
      parsed.invalid = record;
    }
    return parsed;
  }

  private Txn parse(byte[] record, Parsed parsed) {
    Fields f = new Fields();
    try (JsonParser parser = json.getFactory().createParser(record)) {
      if (parser.nextToken() != JsonToken.START_OBJECT) {
        return null;
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
    } catch (Exception notJson) {
      return null;
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
    try {
      BigDecimal amount = new BigDecimal(f.amount).setScale(2, RoundingMode.HALF_UP);
      if (amount.signum() <= 0) {
        return null;
      }
      parsed.cardId = f.cardId;
      return new Txn(
          parsed.ts,
          f.txnId,
          f.customerId,
          amount.movePointRight(2).longValueExact(),
          f.country,
          f.lat,
          f.lon);
    } catch (NumberFormatException | ArithmeticException invalid) {
      return null;
    }
  }

  /** The fields detection reads, as the record has them. */
  private static final class Fields {
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
